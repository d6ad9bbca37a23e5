//! Device traffic checks: the device copies data between bus addresses through its buffer,
//! and the guest RAM the TCEs name must (or, once unmapped, must not) see it.
//!
//! Every transfer is at most one device buffer (4 KiB). Data are pseudo-random per seed, so
//! a stale buffer or a transfer landing at the wrong offset cannot pass for the right one.

use vfio_spapr::SpaprTceIommu;

use super::guest::Guest;
use crate::edu::DmaEngine;

/// A bus address and the guest-physical address its TCE should make it reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    /// Bus address the device uses.
    pub bus: u64,
    /// Guest RAM behind it.
    pub gpa: u64,
}

impl Place {
    /// `offset` bytes further on both sides.
    pub fn at(self, offset: u64) -> Self {
        Self {
            bus: self.bus + offset,
            gpa: self.gpa + offset,
        }
    }
}

/// Bytes around a destination that must stay untouched.
const GUARD: u64 = 64;
const GUARD_BYTE: u8 = 0xa5;

/// `len` pseudo-random bytes (splitmix64 of `seed`), never all equal.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5851_f42d_4c95_7f2d;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d1_049b_1331_11eb);
        bytes.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// Where `got` first differs from `expected`, as text.
fn first_difference(got: &[u8], expected: &[u8]) -> String {
    match got.iter().zip(expected).position(|(g, e)| g != e) {
        Some(at) => {
            let end = (at + 4).min(got.len());
            format!(
                "first difference at byte {at}: got {:02x?}, expected {:02x?}",
                &got[at..end],
                &expected[at..end.min(expected.len())]
            )
        }
        None => "equal".to_owned(),
    }
}

fn describe(bytes: &[u8], known: &[(&str, &[u8])]) -> String {
    if let Some((name, _)) = known.iter().find(|(_, data)| *data == bytes) {
        return (*name).to_owned();
    }
    if bytes.iter().all(|&b| b == 0) {
        return "zeros".to_owned();
    }
    format!("other data ({:02x?}...)", &bytes[..bytes.len().min(4)])
}

/// RAM → device at `src`, device → RAM at `dst`: the bytes written at `src.gpa` must arrive
/// at `dst.gpa` and nowhere around it. Checks the device's read through `src`'s TCE and its
/// write through `dst`'s. Two DMAs.
pub fn roundtrip<C: SpaprTceIommu, E: DmaEngine>(
    guest: &Guest<'_, C>,
    engine: &mut E,
    src: Place,
    dst: Place,
    len: u32,
    seed: u64,
) -> Result<String, String> {
    let n = u64::from(len);
    if src.gpa < dst.gpa + n + GUARD && dst.gpa < src.gpa + n + GUARD {
        return Err(format!("source {src:x?} overlaps destination {dst:x?}"));
    }
    let data = pattern(seed, len as usize);
    guest.write(src.gpa, &data)?;
    let guarded = dst.gpa - GUARD;
    guest.write(guarded, &vec![GUARD_BYTE; (n + 2 * GUARD) as usize])?;
    engine
        .to_device(src.bus, len)
        .map_err(|e| format!("DMA RAM -> device from bus {:#x}: {e}", src.bus))?;
    engine
        .to_ram(dst.bus, len)
        .map_err(|e| format!("DMA device -> RAM to bus {:#x}: {e}", dst.bus))?;
    let got = guest.read(guarded, (n + 2 * GUARD) as usize)?;
    let (before, rest) = got.split_at(GUARD as usize);
    let (arrived, after) = rest.split_at(len as usize);
    let route = format!(
        "{len} bytes bus {:#x} (gpa {:#x}) -> device -> bus {:#x} (gpa {:#x})",
        src.bus, src.gpa, dst.bus, dst.gpa
    );
    if arrived != data.as_slice() {
        return Err(format!(
            "MISMATCH {route}: {}; arrived {}",
            first_difference(arrived, &data),
            describe(arrived, &[("untouched", &vec![GUARD_BYTE; len as usize])])
        ));
    }
    if before.iter().chain(after).any(|&b| b != GUARD_BYTE) {
        return Err(format!(
            "MATCH {route}, but bytes within {GUARD} of the destination changed"
        ));
    }
    Ok(format!("MATCH {route}"))
}

/// Device → RAM at `target`, whose RAM must keep its contents. The device buffer must hold
/// data other than what this writes into RAM first (pattern `seed`). One DMA.
pub fn write_dropped<C: SpaprTceIommu, E: DmaEngine>(
    guest: &Guest<'_, C>,
    engine: &mut E,
    target: Place,
    len: u32,
    seed: u64,
) -> Result<String, String> {
    let sentinel = pattern(seed, len as usize);
    guest.write(target.gpa, &sentinel)?;
    engine
        .to_ram(target.bus, len)
        .map_err(|e| format!("DMA device -> RAM to bus {:#x}: {e}", target.bus))?;
    let got = guest.read(target.gpa, len as usize)?;
    if got == sentinel {
        Ok(format!(
            "write to bus {:#x} dropped (gpa {:#x} kept its {len} bytes)",
            target.bus, target.gpa
        ))
    } else {
        Err(format!(
            "the device wrote through bus {:#x}: gpa {:#x} now holds {}",
            target.bus,
            target.gpa,
            describe(&got, &[])
        ))
    }
}

/// `target` must be unreachable both ways; `witness` is a mapped place proving the device
/// works meanwhile. Three DMAs:
/// 1. device → target: dropped, the target's RAM keeps its fresh pseudo-random contents,
///    which the device buffer cannot hold by chance ([`write_dropped`]);
/// 2. target → device: the device must not get the target's data;
/// 3. device → witness: shows what step 2 brought (QEMU: zeros), and that the device still
///    writes.
pub fn blocked<C: SpaprTceIommu, E: DmaEngine>(
    guest: &Guest<'_, C>,
    engine: &mut E,
    target: Place,
    witness: Place,
    len: u32,
    seed: u64,
) -> Result<String, String> {
    let n = len as usize;
    let write = write_dropped(guest, engine, target, len, seed)?;
    let secret = pattern(seed + 1, n);
    guest.write(target.gpa, &secret)?;
    engine
        .to_device(target.bus, len)
        .map_err(|e| format!("DMA RAM -> device from bus {:#x}: {e}", target.bus))?;
    let marker = pattern(seed + 2, n);
    guest.write(witness.gpa, &marker)?;
    engine
        .to_ram(witness.bus, len)
        .map_err(|e| format!("DMA device -> RAM to the witness: {e}"))?;
    let seen = guest.read(witness.gpa, n)?;
    if seen == secret {
        return Err(format!(
            "{write}; but the device read gpa {:#x} through bus {:#x}",
            target.gpa, target.bus
        ));
    }
    if seen == marker {
        return Err(format!(
            "{write}; but the device did not write the witness at bus {:#x}: cannot judge",
            witness.bus
        ));
    }
    Ok(format!(
        "{write}; read from bus {:#x} brought {}",
        target.bus,
        describe(&seen, &[])
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_differ_by_seed_and_offset() {
        let a = pattern(1, 4096);
        assert_eq!(a.len(), 4096);
        assert_ne!(a, pattern(2, 4096));
        assert_eq!(a, pattern(1, 4096));
        // Not periodic at small shifts: a transfer at a wrong offset cannot match.
        for shift in [1usize, 8, 256, 2048] {
            assert_ne!(&a[shift..], &a[..4096 - shift]);
        }
        assert!(a.iter().any(|&b| b != a[0]));
    }

    #[test]
    fn differences_are_located() {
        assert_eq!(first_difference(&[1, 2, 3], &[1, 2, 3]), "equal");
        assert!(first_difference(&[1, 9, 3], &[1, 2, 3]).starts_with("first difference at byte 1"));
        assert_eq!(describe(&[0, 0], &[]), "zeros");
        assert_eq!(describe(&[1, 2], &[("x", &[1, 2])]), "x");
    }
}
