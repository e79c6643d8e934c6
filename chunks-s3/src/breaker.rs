//! A circuit breaker for the backend: after a call the service did not answer (a timeout, a
//! refused connection, a 5xx after the SDK's retries), calls fail at once with
//! `Unavailable` for a while instead of each waiting out its own timeouts on one of the
//! server's few blocking threads. The window doubles with each failure in a row (1 s up to
//! 30 s); when it ends, one call goes through as a probe while the others still fail at once,
//! so only that one waits if the service is still away; its answer closes the breaker.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use gatehouse_store::StoreError;

const FIRST: Duration = Duration::from_secs(1);
const LONGEST: Duration = Duration::from_secs(30);
/// A probe not recorded after this long (its caller never came back) no longer holds the turn.
const PROBE_LIMIT: Duration = Duration::from_secs(120);

#[derive(Default)]
pub struct Breaker {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    /// When the call let through after the window (half open) started, while it is under way.
    probing: Option<Instant>,
}

impl Breaker {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(Unavailable)` while the breaker is open, or while the one call let through after
    /// the window (the probe) has not answered. A call admitted must be [`Breaker::record`]ed.
    pub fn admit(&self) -> Result<(), StoreError> {
        let mut s = self.lock();
        let now = Instant::now();
        let probe_free = s
            .probing
            .is_none_or(|started| now.duration_since(started) > PROBE_LIMIT);
        match s.open_until {
            None => Ok(()),
            Some(t) if now >= t && probe_free => {
                s.probing = Some(now);
                Ok(())
            }
            Some(_) => Err(StoreError::Unavailable(
                "the backend did not answer lately; not asking again yet".into(),
            )),
        }
    }

    /// `Err(Unavailable)` unless the breaker is closed: for a long call made of many (a listing
    /// whose callback makes calls of its own), which must not take the probe's turn.
    pub fn admit_closed(&self) -> Result<(), StoreError> {
        if self.lock().open_until.is_none() {
            Ok(())
        } else {
            Err(StoreError::Unavailable(
                "the backend did not answer lately; not asking again yet".into(),
            ))
        }
    }

    /// Whether calls go through now (without taking the probe's turn).
    #[cfg(test)]
    fn closed(&self) -> bool {
        self.lock().open_until.is_none()
    }

    /// Notes how a call went: an unanswered one opens (or widens) the window, any answer
    /// closes it.
    pub fn record<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        let mut s = self.lock();
        s.probing = None;
        match &r {
            Err(StoreError::Unavailable(_)) => {
                s.failures = s.failures.saturating_add(1);
                let window = FIRST
                    .saturating_mul(1 << (s.failures - 1).min(5))
                    .min(LONGEST);
                s.open_until = Some(Instant::now() + window);
            }
            _ => {
                s.failures = 0;
                s.open_until = None;
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_on_no_answer_and_closes_on_an_answer() {
        let b = Breaker::default();
        assert!(b.closed());
        let _ = b.record::<()>(Err(StoreError::Unavailable("x".into())));
        assert!(matches!(b.admit(), Err(StoreError::Unavailable(_))));
        // A refusal is an answer.
        let _ = b.record::<()>(Err(StoreError::Internal("403".into())));
        assert!(b.closed());
        let _ = b.record(Ok(()));
        assert!(b.closed());
    }

    #[test]
    fn after_the_window_one_call_probes_and_the_others_still_fail_fast() {
        let b = Breaker::default();
        let _ = b.record::<()>(Err(StoreError::Unavailable("x".into())));
        b.lock().open_until = Some(Instant::now());
        assert!(b.admit().is_ok(), "the probe goes through");
        assert!(b.admit().is_err(), "others do not wait behind it");
        assert!(!b.closed());
        let _ = b.record::<()>(Err(StoreError::Unavailable("still away".into())));
        assert!(b.admit().is_err(), "a longer window");
        b.lock().open_until = Some(Instant::now());
        assert!(b.admit().is_ok());
        let _ = b.record(Ok(()));
        assert!(b.closed() && b.admit().is_ok() && b.admit().is_ok());
    }
}
