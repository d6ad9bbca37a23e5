//! What one guest operation cost the host: the change of the accelerator's backend and
//! entry counters across it, compared with what coalescing promises (one `MAP_DMA` for a run
//! of linear TCEs, one `UNMAP_DMA` for a cleared run; qemu-and-guest.md §6 items 1 and 10).

use std::fmt;

use spapr_tce::CountersSnapshot;

/// Counter changes across an operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Effect {
    /// `VFIO_IOMMU_MAP_DMA` calls.
    pub map_dma: u64,
    /// `VFIO_IOMMU_UNMAP_DMA` calls.
    pub unmap_dma: u64,
    /// `VFIO_IOMMU_SPAPR_TCE_CREATE` calls.
    pub create_window: u64,
    /// `VFIO_IOMMU_SPAPR_TCE_REMOVE` calls.
    pub remove_window: u64,
    /// Guest entries that became valid mappings.
    pub tces_mapped: u64,
    /// Valid guest entries cleared.
    pub tces_unmapped: u64,
    /// Failed host calls, rollbacks and entries cleared after failures: must stay 0.
    pub failures: u64,
}

impl Effect {
    /// The change from `before` to `after`.
    pub fn between(before: &CountersSnapshot, after: &CountersSnapshot) -> Self {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        let failures = |s: &CountersSnapshot| {
            s.backend.map_dma_failed
                + s.backend.unmap_dma_failed
                + s.rollback_calls
                + s.entries_cleared_after_failure
        };
        Self {
            map_dma: d(after.backend.map_dma, before.backend.map_dma),
            unmap_dma: d(after.backend.unmap_dma, before.backend.unmap_dma),
            create_window: d(after.backend.create_window, before.backend.create_window),
            remove_window: d(after.backend.remove_window, before.backend.remove_window),
            tces_mapped: d(after.tces_mapped, before.tces_mapped),
            tces_unmapped: d(after.tces_unmapped, before.tces_unmapped),
            failures: d(failures(after), failures(before)),
        }
    }

    /// A mapping of `tces` entries in `map_dma` host calls.
    pub fn mapped(tces: u64, map_dma: u64) -> Self {
        Self {
            map_dma,
            tces_mapped: tces,
            ..Self::default()
        }
    }

    /// A clear of `tces` entries in `unmap_dma` host calls.
    pub fn unmapped(tces: u64, unmap_dma: u64) -> Self {
        Self {
            unmap_dma,
            tces_unmapped: tces,
            ..Self::default()
        }
    }

    /// `Ok(text)` when `self` is `expected`, else `Err` naming both.
    pub fn expect(self, expected: Self) -> Result<String, String> {
        if self == expected {
            Ok(self.to_string())
        } else {
            Err(format!("host calls: got {self}, expected {expected}"))
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MAP_DMA {} UNMAP_DMA {} (TCEs +{} -{})",
            self.map_dma, self.unmap_dma, self.tces_mapped, self.tces_unmapped
        )?;
        if self.create_window + self.remove_window != 0 {
            write!(
                f,
                " TCE_CREATE {} TCE_REMOVE {}",
                self.create_window, self.remove_window
            )?;
        }
        if self.failures != 0 {
            write!(f, " FAILURES {}", self.failures)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effect_is_the_difference() {
        let mut before = CountersSnapshot::default();
        before.backend.map_dma = 3;
        before.tces_mapped = 10;
        let mut after = before;
        after.backend.map_dma = 4;
        after.tces_mapped = 26;
        let effect = Effect::between(&before, &after);
        assert_eq!(effect, Effect::mapped(16, 1));
        assert!(effect.expect(Effect::mapped(16, 1)).is_ok());
        let err = effect.expect(Effect::mapped(16, 16)).unwrap_err();
        assert!(err.contains("expected MAP_DMA 16"), "{err}");
        after.backend.map_dma_failed = 1;
        assert_eq!(Effect::between(&before, &after).failures, 1);
    }
}
