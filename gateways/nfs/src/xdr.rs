//! Decoding of call arguments by hand over a byte slice. Every length is checked against its
//! XDR bound and against the bytes actually present before anything is allocated, so a hostile
//! length field costs nothing. (Replies are packed with `nfs3_types`, whose decoders allocate
//! what a length field claims; they never see client bytes here.)

use nfs3_types::xdr_codec::Pack;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed XDR")]
pub struct Garbage;

pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Garbage> {
        if n > self.buf.len() {
            return Err(Garbage);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub fn u32(&mut self) -> Result<u32, Garbage> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64, Garbage> {
        Ok((u64::from(self.u32()?) << 32) | u64::from(self.u32()?))
    }

    /// Variable-length opaque of at most `max` bytes (padding skipped).
    pub fn opaque(&mut self, max: usize) -> Result<&'a [u8], Garbage> {
        let len = self.u32()? as usize;
        if len > max {
            return Err(Garbage);
        }
        let data = self.take(len)?;
        self.take((4 - len % 4) % 4)?;
        Ok(data)
    }

    /// Fixed-length opaque of `N` bytes (`N` a multiple of 4 for every caller).
    pub fn fixed<const N: usize>(&mut self) -> Result<[u8; N], Garbage> {
        let b = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }
}

/// Appends the XDR encoding of `v` to `out`.
pub fn pack(out: &mut Vec<u8>, v: &impl Pack) {
    // Writing into a Vec cannot fail; a type whose pack could only fail by its own length
    // bound is never built larger than the protocol allows.
    if let Err(e) = v.pack(out) {
        tracing::error!(error = %e, "packing a reply failed");
    }
}

pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_bounds_and_padding() {
        let mut r = Reader::new(&[0, 0, 0, 3, b'a', b'b', b'c', 0, 0, 0, 0, 7]);
        assert_eq!(r.opaque(10), Ok(&b"abc"[..]));
        assert_eq!(r.u32(), Ok(7));
        assert_eq!(r.remaining(), 0);
        // A length beyond the bound or beyond the data is garbage, not an allocation.
        assert_eq!(
            Reader::new(&[0xFF, 0xFF, 0xFF, 0xFF]).opaque(64),
            Err(Garbage)
        );
        assert_eq!(Reader::new(&[0, 0, 0, 8, 1, 2]).opaque(64), Err(Garbage));
    }
}
