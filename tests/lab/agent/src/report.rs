//! The machine-readable result lines the lab's `run` script parses.
//!
//! Format, one result per line on stdout (the guest console):
//!
//! ```text
//! LAB <part> <name> PASS|FAIL <details...>
//! LAB <part> SUMMARY pass=<n> fail=<m>
//! ```
//!
//! `<part>` and `<name>` never contain spaces; `<details>` is free text on one line.

use std::io::Write;

/// Prints the result lines of one part and counts them.
pub struct Report {
    part: &'static str,
    passed: usize,
    failed: usize,
}

impl Report {
    /// Starts a part; prints nothing yet.
    pub fn new(part: &'static str) -> Self {
        Self {
            part,
            passed: 0,
            failed: 0,
        }
    }

    /// Records one result.
    pub fn record(&mut self, name: &str, ok: bool, details: &str) {
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
        self.line(name, if ok { "PASS" } else { "FAIL" }, details);
    }

    /// Records a passing result.
    pub fn pass(&mut self, name: &str, details: &str) {
        self.record(name, true, details);
    }

    /// Records a failing result.
    pub fn fail(&mut self, name: &str, details: &str) {
        self.record(name, false, details);
    }

    /// Prints an informational line (`LAB <part> <name> INFO <details>`), not counted.
    pub fn info(&self, name: &str, details: &str) {
        self.line(name, "INFO", details);
    }

    /// Prints the summary line; returns true when nothing failed.
    pub fn finish(self) -> bool {
        let line = format!(
            "LAB {} SUMMARY pass={} fail={}",
            self.part, self.passed, self.failed
        );
        emit(&line);
        self.failed == 0
    }

    fn line(&self, name: &str, verdict: &str, details: &str) {
        emit(&format_line(self.part, name, verdict, details));
    }
}

/// One result line; spaces in the name become `_`, newlines in the details become ` | `.
pub fn format_line(part: &str, name: &str, verdict: &str, details: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    let details = details.trim().replace('\n', " | ");
    if details.is_empty() {
        format!("LAB {part} {name} {verdict}")
    } else {
        format!("LAB {part} {name} {verdict} {details}")
    }
}

fn emit(line: &str) {
    // The console is shared with the kernel's messages: stdout is line-buffered, so each
    // line reaches it in one write. `println!` (not a raw write) so tests capture it.
    println!("{line}");
    let _ = std::io::stdout().flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_is_one_parseable_record() {
        assert_eq!(
            format_line("vfio", "api version", "PASS", "got 0\nexpected 0"),
            "LAB vfio api_version PASS got 0 | expected 0"
        );
        assert_eq!(format_line("p", "n", "FAIL", "  "), "LAB p n FAIL");
    }

    #[test]
    fn counts_failures() {
        let mut r = Report::new("t");
        r.pass("a", "");
        r.fail("b", "why");
        r.record("c", false, "");
        assert_eq!((r.passed, r.failed), (1, 2));
        assert!(!r.finish());
        let mut ok = Report::new("t");
        ok.pass("a", "");
        assert!(ok.finish());
    }
}
