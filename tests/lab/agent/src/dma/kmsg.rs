//! The guest kernel's log, to show what the kernel said while the device hit cleared TCEs
//! (an EEH freeze or IOMMU fault report, if the platform raises one).

/// `SYSLOG_ACTION_READ_ALL`.
const READ_ALL: libc::c_int = 3;
/// `SYSLOG_ACTION_SIZE_BUFFER`.
const SIZE_BUFFER: libc::c_int = 10;

/// The lines currently in the kernel's log buffer, `None` if it cannot be read.
pub fn read() -> Option<Vec<String>> {
    // SAFETY: SIZE_BUFFER takes no buffer.
    let size = unsafe { libc::klogctl(SIZE_BUFFER, std::ptr::null_mut(), 0) };
    let size = usize::try_from(size).ok().filter(|&s| s > 0)?;
    let mut buffer = vec![0u8; size];
    // SAFETY: the kernel writes at most `size` bytes into this live buffer of that size.
    let len = unsafe { libc::klogctl(READ_ALL, buffer.as_mut_ptr().cast(), size as libc::c_int) };
    let len = usize::try_from(len).ok()?;
    buffer.truncate(len);
    Some(
        String::from_utf8_lossy(&buffer)
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

/// The lines of `after` that follow the last line of `before` (all of `after` if that line
/// is gone from the buffer).
pub fn new_lines(before: &[String], after: &[String]) -> Vec<String> {
    let start = before
        .last()
        .and_then(|last| after.iter().rposition(|line| line == last))
        .map_or(0, |at| at + 1);
    after[start..].to_vec()
}

/// Whether a kernel line reports a DMA fault: EEH, an IOMMU error or a frozen PE.
pub fn is_fault_report(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    ["eeh", "iommu", "frozen", "fault", "error"]
        .iter()
        .any(|word| lower.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn only_the_new_lines() {
        let before = lines(&["a", "b"]);
        assert_eq!(new_lines(&before, &lines(&["a", "b", "c"])), lines(&["c"]));
        assert_eq!(new_lines(&before, &lines(&["x", "y"])), lines(&["x", "y"]));
        assert_eq!(new_lines(&[], &lines(&["x"])), lines(&["x"]));
        assert!(is_fault_report("EEH: Frozen PHB#4-PE#0 detected"));
        assert!(!is_fault_report("random: crng init done"));
        assert!(!is_fault_report(
            "vfio-pci 0004:00:00.0: ibm,query-pe-dma-windows(2026) 0 8000000 20000004 returned 0"
        ));
    }
}
