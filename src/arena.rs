//! The binary's global allocator: a bump arena for one short-lived CNI call.
//!
//! meta-cni lives for one operation (a few milliseconds) and allocates
//! small, short-lived values: parsed JSON, strings, environments. The musl
//! allocator the static build ships with is slow at exactly this (it was
//! about half of meta-cni's own instructions per ADD, plus an `mmap`/`munmap`
//! pair per few allocations). This arena hands out memory by bumping an
//! offset in a 1 MiB zero-initialised static (untouched pages cost nothing),
//! gives the most recent block back when it is freed, grows the most recent
//! block in place (a `Vec` being filled, the usual case), and leaves
//! everything else to the system allocator: requests that no longer fit,
//! and every block that did not come from the arena. Memory freed in the
//! middle of the arena is not reused; the waste is bounded by its size.
//!
//! It is the only `unsafe` code in the crate: the library itself is
//! `#![forbid(unsafe_code)]`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes in the global arena.
pub const SIZE: usize = 1 << 20;

#[repr(C, align(4096))]
struct Space<const N: usize>(UnsafeCell<[u8; N]>);

/// A bump arena of `N` bytes in front of the system allocator.
pub struct Arena<const N: usize> {
    space: Space<N>,
    /// Offset of the first free byte.
    top: AtomicUsize,
}

// SAFETY: the bytes are only reached through blocks handed out by `alloc`,
// and `top` (the only shared state) is updated with compare-and-swap, so no
// two live blocks overlap whichever threads allocate.
unsafe impl<const N: usize> Sync for Arena<N> {}

impl<const N: usize> Arena<N> {
    pub const fn new() -> Self {
        Arena {
            space: Space(UnsafeCell::new([0; N])),
            top: AtomicUsize::new(0),
        }
    }

    fn base(&self) -> usize {
        self.space.0.get() as usize
    }

    /// The block's offset in the arena, if it is in the arena.
    fn offset_of(&self, ptr: *mut u8) -> Option<usize> {
        (ptr as usize).checked_sub(self.base()).filter(|o| *o < N)
    }

    /// Bump-allocate; `None` when the arena cannot hold it.
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        let base = self.base();
        let mut top = self.top.load(Ordering::Relaxed);
        loop {
            // Align the address, not the offset (any alignment works).
            let start = (base + top).checked_next_multiple_of(layout.align())? - base;
            let end = start.checked_add(layout.size()).filter(|e| *e <= N)?;
            match self
                .top
                .compare_exchange_weak(top, end, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Some(self.space.0.get().cast::<u8>().wrapping_add(start)),
                Err(now) => top = now,
            }
        }
    }
}

impl<const N: usize> Default for Arena<N> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: blocks from `bump` are inside the arena, aligned as asked, and
// disjoint from every other live block (see `Sync`); everything else is the
// system allocator's, given back to it with the layout it was made with.
unsafe impl<const N: usize> GlobalAlloc for Arena<N> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(p) => p,
            // SAFETY: the caller's layout contract, passed on.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match self.offset_of(ptr) {
            // The most recent block goes back; any other stays used.
            Some(start) => {
                let end = start + layout.size();
                let _ = self
                    .top
                    .compare_exchange(end, start, Ordering::AcqRel, Ordering::Relaxed);
            }
            // SAFETY: not ours, so the system allocator made it with `layout`.
            None => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(start) = self.offset_of(ptr) else {
            // SAFETY: not ours: the system allocator's block and contract.
            return unsafe { System.realloc(ptr, layout, new_size) };
        };
        // The most recent block grows or shrinks where it is.
        let end = start + layout.size();
        if let Some(new_end) = start.checked_add(new_size).filter(|e| *e <= N) {
            if self
                .top
                .compare_exchange(end, new_end, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return ptr;
            }
        }
        // SAFETY: `new_size` is non-zero and, rounded up to the alignment,
        // does not overflow `isize` (the caller's contract for `realloc`).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as `alloc`.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live, disjoint, and at least this long.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn bumps_aligns_and_takes_back_only_the_latest_block() {
        let a: Arena<4096> = Arena::new();
        unsafe {
            let p = a.alloc(layout(3, 1));
            let q = a.alloc(layout(8, 8));
            assert_eq!(a.offset_of(p), Some(0));
            assert_eq!(a.offset_of(q), Some(8));
            let r = a.alloc(layout(64, 64));
            assert_eq!(r as usize % 64, 0);
            // Freeing a block in the middle changes nothing...
            a.dealloc(q, layout(8, 8));
            assert_eq!(a.top.load(Ordering::Relaxed), 64 + 64);
            // ...the latest one is given back.
            a.dealloc(r, layout(64, 64));
            assert_eq!(a.top.load(Ordering::Relaxed), 64);
        }
    }

    #[test]
    fn the_latest_block_grows_in_place_others_move_with_their_bytes() {
        let a: Arena<4096> = Arena::new();
        unsafe {
            let p = a.alloc(layout(16, 8));
            p.write_bytes(0xAB, 16);
            let grown = a.realloc(p, layout(16, 8), 1000);
            assert_eq!(grown, p, "in place");
            let q = a.alloc(layout(8, 8));
            let moved = a.realloc(p, layout(1000, 8), 2000);
            assert_ne!(moved, p);
            assert!(a.offset_of(moved).is_some());
            assert_eq!(std::slice::from_raw_parts(moved, 16), [0xAB; 16]);
            a.dealloc(q, layout(8, 8));
            a.dealloc(moved, layout(2000, 8));
        }
    }

    #[test]
    fn what_does_not_fit_goes_to_the_system_and_back() {
        let a: Arena<256> = Arena::new();
        unsafe {
            let p = a.alloc(layout(200, 8));
            assert!(a.offset_of(p).is_some());
            p.write_bytes(7, 200);
            // Growing past the arena moves the block to the system allocator.
            let big = a.realloc(p, layout(200, 8), 10_000);
            assert!(!big.is_null());
            assert!(a.offset_of(big).is_none());
            assert_eq!(std::slice::from_raw_parts(big, 200), [7; 200]);
            assert_eq!(a.top.load(Ordering::Relaxed), 0, "the old block came back");
            let big = a.realloc(big, layout(10_000, 8), 20_000);
            a.dealloc(big, layout(20_000, 8));
            // A huge alignment is honoured in the arena too.
            let page = a.alloc(layout(16, 4096));
            assert_eq!(page as usize % 4096, 0);
            a.dealloc(page, layout(16, 4096));
            let none_left = a.alloc(layout(300, 1));
            assert!(a.offset_of(none_left).is_none());
            a.dealloc(none_left, layout(300, 1));
        }
    }

    #[test]
    fn threads_never_get_overlapping_blocks() {
        static A: Arena<{ 64 * 1024 }> = Arena::new();
        let threads: Vec<_> = (0u8..4)
            .map(|t| {
                std::thread::spawn(move || unsafe {
                    let mut live = Vec::new();
                    for i in 0..2000usize {
                        let size = 1 + (i * 7 + usize::from(t) * 13) % 200;
                        let l = layout(size, 8);
                        let p = A.alloc(l);
                        assert!(!p.is_null());
                        p.write_bytes(t, size);
                        live.push((p, l));
                        if i % 3 == 0 {
                            let (p, l) = live.swap_remove(i % live.len());
                            assert!(std::slice::from_raw_parts(p, l.size())
                                .iter()
                                .all(|b| *b == t));
                            A.dealloc(p, l);
                        }
                    }
                    for (p, l) in live {
                        assert!(std::slice::from_raw_parts(p, l.size())
                            .iter()
                            .all(|b| *b == t));
                        A.dealloc(p, l);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}
