//! A growable buffer that owns every cache line it uses: its contents start on a line boundary
//! and the line holding its last element lies inside its own allocation. Buffers that two
//! threads write at once (the hidden and cell states, each thread's scratch) then never share a
//! line with another allocation, so one thread's writes never evict data the other is using.
//! Without this, the two halves of a time step were fast or twice as slow depending on where
//! the allocator happened to place their buffers.

use std::ops::{Deref, DerefMut};

/// Bytes of one cache line (also the adjacent-line prefetch pair is kept apart by padding 2×).
const LINE: usize = 64;

/// A `Vec`-like buffer aligned to and padded out to whole cache lines; `Deref`s to its
/// elements. It only grows its allocation, so resizing back and forth allocates nothing.
#[derive(Debug, Default)]
pub struct LineBuf<T> {
    storage: Vec<T>,
    offset: usize,
    len: usize,
}

impl<T: Copy + Default> LineBuf<T> {
    /// Elements in the buffer.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Like `Vec::resize`: keeps the first `min(len, new_len)` elements and fills the rest
    /// with `value`.
    #[inline]
    pub fn resize(&mut self, new_len: usize, value: T) {
        if new_len == self.len {
            return;
        }
        self.reserve_total(new_len);
        let old = self.len;
        self.len = new_len;
        if new_len > old {
            self.storage[self.offset + old..self.offset + new_len].fill(value);
        }
    }

    /// Sets the length to `new_len` without filling: elements past the old length keep
    /// whatever the allocation last held (initialized, but stale). For a buffer its next user
    /// overwrites whole, such as a product's accumulators, which otherwise were zeroed on
    /// every change of size (megabytes a forward pass at batch 64).
    #[inline]
    pub fn resize_for_overwrite(&mut self, new_len: usize) {
        self.reserve_total(new_len);
        self.len = new_len;
    }

    /// Elements the buffer can hold without a new allocation.
    pub fn capacity(&self) -> usize {
        self.storage.len().saturating_sub(self.offset + Self::pad())
    }

    /// Elements of padding kept after the last one (two cache lines).
    fn pad() -> usize {
        (2 * LINE).div_ceil(size_of::<T>().max(1))
    }

    /// Makes room for `len` elements without changing the contents.
    pub fn reserve_total(&mut self, len: usize) {
        let pad = Self::pad();
        if self.capacity() >= len {
            return;
        }
        let mut storage = vec![T::default(); len + 2 * pad];
        let offset = storage.as_ptr().align_offset(LINE).min(pad);
        storage[offset..offset + self.len].copy_from_slice(self);
        self.storage = storage;
        self.offset = offset;
    }
}

impl<T: Copy + Default> Clone for LineBuf<T> {
    /// A clone has its own allocation, aligned in its own right.
    fn clone(&self) -> Self {
        let mut copy = LineBuf::default();
        copy.reserve_total(self.len);
        copy.len = self.len;
        copy.copy_from_slice(self);
        copy
    }
}

impl<T> Deref for LineBuf<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.storage[self.offset..self.offset + self.len]
    }
}

impl<T> DerefMut for LineBuf<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.storage[self.offset..self.offset + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_start_on_a_line_and_its_last_line_is_its_own() {
        let mut buf = LineBuf::<f32>::default();
        for len in [1, 15, 16, 17, 1000, 3, 4096] {
            buf.resize(len, 1.5);
            let start = buf.as_ptr() as usize;
            assert_eq!(start % LINE, 0, "len {len}");
            let alloc_end = buf.storage.as_ptr() as usize + buf.storage.len() * 4;
            let last_line_end = (start + len * 4).next_multiple_of(LINE);
            assert!(last_line_end <= alloc_end, "len {len}");
        }
    }

    #[test]
    fn resize_keeps_contents_like_vec() {
        let mut buf = LineBuf::<i32>::default();
        let mut vec = Vec::new();
        for (len, value) in [(5, 1), (3, 2), (40, 3), (10, 4), (200, 5)] {
            buf.resize(len, value);
            vec.resize(len, value);
            assert_eq!(&buf[..], &vec[..]);
            buf[len - 1] = -7;
            vec[len - 1] = -7;
        }
        assert_eq!(&buf.clone()[..], &vec[..]);
    }

    #[test]
    fn resizing_for_overwrite_keeps_the_contents_it_covers_and_never_fills() {
        let mut buf: LineBuf<i32> = LineBuf::default();
        buf.resize(100, 7);
        buf.resize_for_overwrite(10);
        assert_eq!(&buf[..], &[7; 10]);
        // Growing again within the allocation shows the stale values, not a fill.
        buf.resize_for_overwrite(100);
        assert_eq!(&buf[..], &[7; 100][..]);
        // Growing past it keeps the old contents and starts on a line, as `resize` does.
        buf.resize_for_overwrite(5000);
        assert_eq!(buf.len(), 5000);
        assert_eq!(&buf[..100], &[7; 100][..]);
        assert_eq!(buf.as_ptr().align_offset(LINE), 0);
    }

    #[test]
    fn shrinking_and_regrowing_keeps_the_allocation() {
        let mut buf = LineBuf::<u8>::default();
        buf.resize(1000, 0);
        let ptr = buf.as_ptr();
        buf.resize(10, 0);
        buf.resize(1000, 9);
        assert_eq!(buf.as_ptr(), ptr);
        assert!(buf[10..].iter().all(|&v| v == 9));
    }
}
