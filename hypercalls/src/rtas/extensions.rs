// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The PHB property `ibm,ddw-extensions` (LoPAR 2.9 `app_papr_binding.xml`; qemu-and-guest.md
//! §1 "DDW extensions", §2.10; kernel-host.md Appendix A).

/// The optional DDW features a PHB advertises in `ibm,ddw-extensions`.
///
/// The property is a list of cells: cell 0 = number of extensions that follow, then one cell
/// per extension index (Linux `DDW_EXT_*` in `pseries/iommu.c`):
///
/// | index | meaning | value |
/// |-------|---------|-------|
/// | 1 | `ibm,reset-pe-dma-window` (LoPAR 2.7) | the RTAS token |
/// | 2 | query returns 6 outputs, 64-bit largest block (LoPAR 2.8) | 1 = yes |
/// | 3 | reset takes a 4th argument selecting limited addressing (LoPAR 2.13) | non-zero = yes |
///
/// ```
/// use papr_hcall::rtas::DdwExtensions;
/// let qemu = DdwExtensions::QEMU;
/// assert_eq!(qemu.to_cells(), [2, 0x2029, 1]);
/// assert_eq!(DdwExtensions::from_cells(&[2, 0x2029, 1]), qemu);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DdwExtensions {
    /// Token of `ibm,reset-pe-dma-window` (index 1), if the VMM implements it.
    pub reset_token: Option<u32>,
    /// Index 2: `ibm,query-pe-dma-window` may be called with 6 return cells.
    pub query_six_outputs: bool,
    /// Index 3: `ibm,reset-pe-dma-window` accepts the 4-argument limited-addressing form.
    pub limited_addressing: bool,
}

impl DdwExtensions {
    /// Index of the reset token (Linux `DDW_EXT_RESET_DMA_WIN`).
    pub const RESET_INDEX: usize = 1;
    /// Index of the query-output-size flag (Linux `DDW_EXT_QUERY_OUT_SIZE`).
    pub const QUERY_OUT_SIZE_INDEX: usize = 2;
    /// Index of the limited-addressing flag (Linux `DDW_EXT_LIMITED_ADDR_MODE`).
    pub const LIMITED_ADDR_INDEX: usize = 3;
    /// Cell written at index 1 when a later extension is advertised without a reset token:
    /// Linux's `RTAS_UNKNOWN_SERVICE` (`asm/rtas.h`, -1), which `rtas_call` refuses to call.
    pub const NO_TOKEN: u32 = u32::MAX;

    /// What QEMU advertises: `<2, 0x2029, 1>` (`spapr_dt_phb`, qemu-and-guest.md §0 fact 2).
    pub const QEMU: Self = Self {
        reset_token: Some(0x2029),
        query_six_outputs: true,
        limited_addressing: false,
    };

    /// How many extension cells [`Self::to_cells`] writes after the count: the highest index
    /// in use (lower indices are padded).
    pub fn count(&self) -> usize {
        if self.limited_addressing {
            Self::LIMITED_ADDR_INDEX
        } else if self.query_six_outputs {
            Self::QUERY_OUT_SIZE_INDEX
        } else if self.reset_token.is_some() {
            Self::RESET_INDEX
        } else {
            0
        }
    }

    /// The property value: count, then the extension cells (host order; the device tree
    /// stores them big-endian).
    pub fn to_cells(&self) -> Vec<u32> {
        let values = [
            self.reset_token.unwrap_or(Self::NO_TOKEN),
            u32::from(self.query_six_outputs),
            u32::from(self.limited_addressing),
        ];
        let count = self.count();
        std::iter::once(count as u32)
            .chain(values.into_iter().take(count))
            .collect()
    }

    /// Parses the property. Extensions beyond the count, or beyond the cells present, are
    /// absent (as Linux's `ddw_read_ext` reads them); index 2 counts only when it is 1, index
    /// 3 when it is non-zero, and [`Self::NO_TOKEN`] at index 1 means no reset token.
    pub fn from_cells(cells: &[u32]) -> Self {
        let count = cells.first().map_or(0, |&c| c as usize);
        let extension = |index: usize| {
            if index <= count {
                cells.get(index).copied()
            } else {
                None
            }
        };
        Self {
            reset_token: extension(Self::RESET_INDEX).filter(|&t| t != Self::NO_TOKEN),
            query_six_outputs: extension(Self::QUERY_OUT_SIZE_INDEX) == Some(1),
            limited_addressing: extension(Self::LIMITED_ADDR_INDEX).is_some_and(|v| v != 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_is_the_highest_index_in_use() {
        assert_eq!(DdwExtensions::default().to_cells(), [0]);
        let reset_only = DdwExtensions {
            reset_token: Some(0x2029),
            ..Default::default()
        };
        assert_eq!(reset_only.to_cells(), [1, 0x2029]);
        let limited_only = DdwExtensions {
            limited_addressing: true,
            ..Default::default()
        };
        assert_eq!(limited_only.to_cells(), [3, u32::MAX, 0, 1]);
        assert_eq!(
            DdwExtensions::from_cells(&limited_only.to_cells()),
            limited_only
        );
    }

    #[test]
    fn truncated_or_short_properties_advertise_less() {
        // Count says 1: the six-output flag is not part of the property.
        assert_eq!(
            DdwExtensions::from_cells(&[1, 0x2029, 1]),
            DdwExtensions {
                reset_token: Some(0x2029),
                ..Default::default()
            }
        );
        // Count says 3 but only two cells follow.
        assert_eq!(
            DdwExtensions::from_cells(&[3, 0x2029, 1]),
            DdwExtensions::QEMU
        );
        assert_eq!(DdwExtensions::from_cells(&[]), DdwExtensions::default());
        // Index 2 set to something other than 1 does not enable six outputs.
        assert!(!DdwExtensions::from_cells(&[2, 0x2029, 2]).query_six_outputs);
    }
}
