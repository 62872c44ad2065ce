//! A small-block cache in front of the engine's allocator, for the
//! component.
//!
//! A transform makes and frees some hundred small blocks (the tree of the
//! lead, the output routes, the change list and its strings). In Wasm,
//! std's allocator (dlmalloc) spends about a fifth of a transform on them:
//! every `malloc` and `free` walks bins and coalesces neighbours, and each
//! call is three nested Wasm functions, each with wasmtime's epoch check.
//! [`ClassCache`] keeps freed blocks of up to [`LARGEST`] bytes on one free
//! list per size class (16 bytes apart up to 512 bytes, then powers of two)
//! and hands them out again with a pop: the next lead's blocks are the last
//! lead's, without coalescing or searching.
//!
//! Every block in a class was allocated from the inner allocator with the
//! class's full size and alignment [`ALIGN`], so any request of that class
//! fits it. Requests that are larger, or more strictly aligned, go to the
//! inner allocator untouched. The free lists hold at most [`KEEP_BYTES`] in
//! all; beyond that, blocks are freed to the inner allocator, so one huge
//! lead does not pin its memory for good.
//!
//! The cache starts disabled and serves no freed block until
//! [`ClassCache::enable`]: the component enables it on its first call, so
//! that the pre-initialised memory snapshot (taken after loading the policy)
//! is laid out exactly as std's allocator alone would lay it out, with no
//! extra free blocks to carry in every policy.wasm.
//!
//! The cache is for single-threaded use (a Wasm instance has one thread):
//! the free lists are plain cells. The component installs it as the global
//! allocator on `wasm32`; native builds keep the system allocator, and the
//! tests below exercise the cache over it.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::ptr;

/// Size classes are this many bytes apart up to [`FINE`] bytes, and
/// powers of two above.
const GRANULE: usize = 16;

/// The largest size with classes [`GRANULE`] bytes apart.
const FINE: usize = 512;

/// The largest request the cache serves.
pub const LARGEST: usize = 8 << 10;

/// The alignment of every cached block; requests with a stricter alignment
/// bypass the cache.
pub const ALIGN: usize = 8;

/// The most bytes of free blocks the cache keeps, over all classes.
pub const KEEP_BYTES: usize = 2 << 20;

/// 32 classes up to 512 bytes, and 1, 2, 4 and 8 KiB.
const CLASSES: usize = FINE / GRANULE + 4;

/// A free block: the link to the next one is stored in its first bytes.
struct Free {
    next: *mut Free,
}

/// Free lists of small blocks in front of an inner allocator `A`.
#[derive(Debug)]
pub struct ClassCache<A> {
    inner: A,
    heads: [Cell<*mut Free>; CLASSES],
    /// Bytes of free blocks on all lists.
    kept: Cell<usize>,
    /// Whether freed blocks are kept; until then they go straight back.
    enabled: Cell<bool>,
}

// SAFETY: the cache is only used where there is one thread (the Wasm
// instance); `Sync` is what a `#[global_allocator]` static requires.
unsafe impl<A: Sync> Sync for ClassCache<A> {}

impl<A> ClassCache<A> {
    /// A cache with empty free lists in front of `inner`.
    pub const fn new(inner: A) -> ClassCache<A> {
        ClassCache {
            inner,
            heads: [const { Cell::new(ptr::null_mut()) }; CLASSES],
            kept: Cell::new(0),
            enabled: Cell::new(false),
        }
    }

    /// Starts keeping freed blocks.
    pub fn enable(&self) {
        self.enabled.set(true);
    }
}

/// The size class of a layout the cache serves, or `None`.
fn class(layout: Layout) -> Option<usize> {
    if layout.size() == 0 || layout.size() > LARGEST || layout.align() > ALIGN {
        return None;
    }
    let size = layout.size();
    if size <= FINE {
        return Some((size - 1) / GRANULE);
    }
    // 513..=1024 is the first power-of-two class, 1025..=2048 the next.
    let bits = (usize::BITS - (size - 1).leading_zeros()) as usize;
    Some(FINE / GRANULE + bits - 10)
}

/// The size of every block of class `k`.
fn class_size(k: usize) -> usize {
    if k < FINE / GRANULE {
        (k + 1) * GRANULE
    } else {
        (2 * FINE) << (k - FINE / GRANULE)
    }
}

/// The layout every block of class `k` has in the inner allocator.
fn block_layout(k: usize) -> Layout {
    // The size is a positive multiple of 16 up to 8 KiB and the alignment a
    // power of two, so this cannot fail.
    Layout::from_size_align(class_size(k), ALIGN).unwrap_or(Layout::new::<Free>())
}

// SAFETY: every block handed out is either fresh from `inner` (always with
// its class's layout, enabled or not) or was handed
// out before with the same class and then freed; a class's blocks are all
// `block_layout(k)` in `inner`, which fits every layout of that class (size
// and alignment), and blocks leave the cache only through `inner.dealloc`
// with that same layout.
unsafe impl<A: GlobalAlloc> GlobalAlloc for ClassCache<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(k) = class(layout) else {
            // SAFETY: the caller's contract, passed on.
            return unsafe { self.inner.alloc(layout) };
        };
        let head = self.heads[k].get();
        if head.is_null() {
            // SAFETY: `block_layout(k)` has a non-zero size.
            return unsafe { self.inner.alloc(block_layout(k)) };
        }
        // SAFETY: `head` is a free block of this class: its first bytes hold
        // the link written by `dealloc`.
        self.heads[k].set(unsafe { (*head).next });
        self.kept.set(self.kept.get() - class_size(k));
        head.cast()
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(k) = class(layout) else {
            // SAFETY: the caller's contract: `inner` allocated this block
            // with this layout (`alloc` passed such layouts straight on).
            return unsafe { self.inner.dealloc(block, layout) };
        };
        let kept = self.kept.get() + class_size(k);
        if kept > KEEP_BYTES || !self.enabled.get() {
            // SAFETY: blocks of class `k` are `block_layout(k)` in `inner`.
            return unsafe { self.inner.dealloc(block, block_layout(k)) };
        }
        let free: *mut Free = block.cast();
        // SAFETY: the block is at least 16 bytes, aligned to 8, and no longer
        // in use, so it can hold the link.
        unsafe {
            free.write(Free {
                next: self.heads[k].get(),
            })
        };
        self.heads[k].set(free);
        self.kept.set(kept);
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = class(layout);
        // SAFETY: the caller guarantees `new_size`, rounded up to the
        // alignment, does not overflow `isize`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = class(new_layout);
        match (old, new) {
            // The block already has room for the new size.
            (Some(a), Some(b)) if a == b => block,
            // Neither is cached: the inner allocator can grow in place.
            // SAFETY: the caller's contract, passed on.
            (None, None) => unsafe { self.inner.realloc(block, layout, new_size) },
            _ => {
                // SAFETY: `new_layout` has a non-zero size (the caller's
                // contract); the copy is the smaller of both sizes, and both
                // blocks are live and distinct.
                unsafe {
                    let moved = self.alloc(new_layout);
                    if !moved.is_null() {
                        ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                    moved
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn classes_are_sixteen_bytes_apart_then_powers_of_two() {
        assert_eq!(class(layout(1, 1)), Some(0));
        assert_eq!(class(layout(16, 8)), Some(0));
        assert_eq!(class(layout(17, 1)), Some(1));
        assert_eq!(class(layout(512, 1)), Some(31));
        assert_eq!(class(layout(513, 1)), Some(32));
        assert_eq!(class(layout(1024, 1)), Some(32));
        assert_eq!(class(layout(1025, 1)), Some(33));
        assert_eq!(class(layout(LARGEST, 4)), Some(CLASSES - 1));
        assert_eq!(class(layout(LARGEST + 1, 1)), None);
        assert_eq!(class(layout(32, 16)), None);
        assert_eq!(class(layout(0, 1)), None);
        for size in 1..=LARGEST {
            let k = class(layout(size, 1)).unwrap();
            assert!(class_size(k) >= size, "{size}");
            assert!(k == 0 || class_size(k - 1) < size, "{size}");
        }
    }

    #[test]
    fn a_freed_block_is_handed_out_again_for_its_class() {
        let cache = ClassCache::new(System);
        cache.enable();
        unsafe {
            let a = cache.alloc(layout(20, 4));
            cache.dealloc(a, layout(20, 4));
            // 30 bytes is the same class as 20.
            let b = cache.alloc(layout(30, 1));
            assert_eq!(a, b);
            // Another class does not get it.
            let c = cache.alloc(layout(40, 8));
            assert_ne!(c, b);
            cache.dealloc(b, layout(30, 1));
            cache.dealloc(c, layout(40, 8));
        }
    }

    #[test]
    fn blocks_in_use_never_overlap_and_keep_their_bytes() {
        let cache = ClassCache::new(System);
        cache.enable();
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        unsafe {
            for round in 0..20_000u32 {
                let r = next();
                if r % 3 == 0 && !live.is_empty() {
                    let (block, l, fill) = live.swap_remove((r as usize / 3) % live.len());
                    assert!((0..l.size()).all(|i| *block.add(i) == fill));
                    cache.dealloc(block, l);
                } else if r % 3 == 1 && !live.is_empty() {
                    // Grow or shrink a live block; its prefix survives.
                    let i = (r as usize / 3) % live.len();
                    let (block, l, fill) = live[i];
                    let size = 1 + (next() as usize % 3000);
                    let moved = cache.realloc(block, l, size);
                    let kept = l.size().min(size);
                    assert!((0..kept).all(|j| *moved.add(j) == fill));
                    let l = layout(size, l.align());
                    moved.write_bytes(fill, size);
                    live[i] = (moved, l, fill);
                } else {
                    let size = 1 + (r as usize >> 8) % 3000;
                    let align = [1, 4, 8, 16][(r as usize >> 20) % 4];
                    let l = layout(size, align);
                    let block = cache.alloc(l);
                    assert!(!block.is_null());
                    assert_eq!(block as usize % align, 0);
                    let fill = round as u8;
                    block.write_bytes(fill, size);
                    live.push((block, l, fill));
                }
            }
            let mut spans: Vec<(usize, usize)> = live
                .iter()
                .map(|(b, l, _)| (*b as usize, *b as usize + l.size()))
                .collect();
            spans.sort();
            assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0));
            for (block, l, fill) in live {
                assert!((0..l.size()).all(|i| *block.add(i) == fill));
                cache.dealloc(block, l);
            }
        }
    }

    #[test]
    fn a_disabled_cache_keeps_nothing() {
        let cache = ClassCache::new(System);
        unsafe {
            let a = cache.alloc(layout(20, 4));
            cache.dealloc(a, layout(20, 4));
            assert!(cache.heads.iter().all(|h| h.get().is_null()));
            assert_eq!(cache.kept.get(), 0);
            // Blocks from before `enable` may be kept afterwards: they were
            // allocated with their class's size all along.
            let b = cache.alloc(layout(20, 4));
            cache.enable();
            cache.dealloc(b, layout(20, 4));
            assert_eq!(cache.alloc(layout(32, 8)), b);
            cache.dealloc(b, layout(32, 8));
        }
    }

    #[test]
    fn the_cache_keeps_a_bounded_number_of_free_bytes() {
        let cache = ClassCache::new(System);
        cache.enable();
        let l = layout(LARGEST, 8);
        let n = 2 * KEEP_BYTES / LARGEST;
        unsafe {
            let blocks: Vec<*mut u8> = (0..n).map(|_| cache.alloc(l)).collect();
            for block in blocks {
                cache.dealloc(block, l);
            }
            assert_eq!(cache.kept.get(), KEEP_BYTES);
            // A block of another class now goes back to the system too.
            let small = cache.alloc(layout(8, 8));
            cache.dealloc(small, layout(8, 8));
            assert_eq!(cache.kept.get(), KEEP_BYTES);
            assert!(cache.heads[0].get().is_null());
            // Taking a block out makes room again.
            let again = cache.alloc(l);
            assert_eq!(cache.kept.get(), KEEP_BYTES - LARGEST);
            cache.dealloc(again, l);
        }
    }
}
