//! What one component instance may hold, and whether a call hit the limit.
//!
//! Every instance has a store of its own, so the store's limiter sees all of
//! it: the memory limit caps the **sum** of every linear memory of every
//! core instance inside the component instance, not each memory alone (a
//! hand-made component with 30 memories once reached 1.86 GB under a 64 MiB
//! limit). Wasmtime asks the limiter for each memory's initial size as well
//! as for every `memory.grow`, so the sum covers both.

use wasmtime::ResourceLimiter;

/// What a store holds: the memory limit, the memory granted so far, and
/// whether a call hit the limit.
pub(super) struct Limits {
    /// The most bytes of linear memory, all memories together.
    pub(super) memory_limit: usize,
    /// Bytes of linear memory granted so far, all memories together.
    granted: usize,
    /// The last grant, taken back if the growth then fails.
    last_grant: usize,
    /// A request was refused for the limit since the last call began.
    pub(super) exceeded: bool,
}

/// Core instances one component instance may create. A policy component
/// has one core instance (the engine module) with one memory and one
/// table; a component that needs more is refused when it is instantiated.
pub(super) const MAX_INSTANCES: usize = 4;
/// Linear memories one component instance may create (see
/// [`MAX_INSTANCES`]).
pub(super) const MAX_MEMORIES: usize = 1;
/// Tables one component instance may create (see [`MAX_INSTANCES`]).
pub(super) const MAX_TABLES: usize = 4;

/// Function table entries an instance may have (the engine needs a few
/// hundred).
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl Limits {
    pub(super) fn new(memory_limit: usize) -> Limits {
        Limits {
            memory_limit,
            granted: 0,
            last_grant: 0,
            exceeded: false,
        }
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grow = desired.saturating_sub(current);
        let total = self.granted.saturating_add(grow);
        if total > self.memory_limit {
            self.exceeded = true;
            self.last_grant = 0;
            return Ok(false);
        }
        self.granted = total;
        self.last_grant = grow;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.granted = self.granted.saturating_sub(self.last_grant);
        self.last_grant = 0;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_on_the_sum_of_every_memory() {
        let mut limits = Limits::new(64 << 20);
        // Two memories of 30 MiB each fit; a third does not.
        assert!(limits.memory_growing(0, 30 << 20, None).unwrap());
        assert!(limits.memory_growing(0, 30 << 20, None).unwrap());
        assert!(!limits.memory_growing(0, 30 << 20, None).unwrap());
        assert!(limits.exceeded);
        // Growing one of them by what is left fits.
        assert!(limits.memory_growing(30 << 20, 34 << 20, None).unwrap());
        assert!(!limits.memory_growing(34 << 20, 35 << 20, None).unwrap());
        // A growth that wasmtime could not carry out is taken back.
        let mut limits = Limits::new(64 << 20);
        assert!(limits.memory_growing(0, 60 << 20, None).unwrap());
        limits
            .memory_grow_failed(wasmtime::Error::msg("over the memory's maximum"))
            .unwrap();
        assert!(limits.memory_growing(0, 64 << 20, None).unwrap());
    }
}
