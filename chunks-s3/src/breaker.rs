//! A circuit breaker for the backend: after a call the service did not answer (a timeout, a
//! refused connection, a 5xx after the SDK's retries), calls fail at once with
//! `Unavailable` for a while instead of each waiting out its own timeouts on one of the
//! server's few blocking threads. The window doubles with each failure in a row (1 s up to
//! 30 s); when it ends, calls go through again, and the first answer closes it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use gatehouse_store::StoreError;

const FIRST: Duration = Duration::from_secs(1);
const LONGEST: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Breaker {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
}

impl Breaker {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(Unavailable)` while the breaker is open.
    pub fn admit(&self) -> Result<(), StoreError> {
        match self.lock().open_until {
            Some(t) if Instant::now() < t => Err(StoreError::Unavailable(
                "the backend did not answer lately; not asking again yet".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Whether calls go through now.
    pub fn closed(&self) -> bool {
        self.admit().is_ok()
    }

    /// Notes how a call went: an unanswered one opens (or widens) the window, any answer
    /// closes it.
    pub fn record<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        let mut s = self.lock();
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
}
