// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Pieces of the canonical text format shared by the writer and the parser: the field layout
//! of the foldable events and number syntax.

use super::fold::FoldKind;

/// How a number is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Radix {
    Hex,
    Dec,
}

/// One token position in the text of a foldable event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Wide field `n` of [`super::fold::FoldFields`] (may carry a step inside `repeat`).
    Wide(usize, Radix),
    /// The fixed field (return code or permission).
    Fixed,
    /// A literal word.
    Word(&'static str),
}

/// The separator between a call and its expected result.
pub(crate) const ARROW: &str = "->";

/// Keyword and token layout of a foldable event kind.
pub(crate) fn layout(kind: FoldKind) -> (&'static str, &'static [Slot]) {
    use Radix::{Dec, Hex};
    use Slot::{Fixed, Wide, Word};
    match kind {
        FoldKind::Put => (
            "put",
            &[Wide(0, Hex), Wide(1, Hex), Wide(2, Hex), Word(ARROW), Fixed],
        ),
        FoldKind::Get => (
            "get",
            &[Wide(0, Hex), Wide(1, Hex), Word(ARROW), Fixed, Wide(2, Hex)],
        ),
        FoldKind::Stuff => (
            "stuff",
            &[
                Wide(0, Hex),
                Wide(1, Hex),
                Wide(2, Hex),
                Wide(3, Dec),
                Word(ARROW),
                Fixed,
            ],
        ),
        FoldKind::IndirectLinear => (
            "indirect",
            &[
                Wide(0, Hex),
                Wide(1, Hex),
                Wide(2, Hex),
                Wide(3, Dec),
                Word("linear"),
                Wide(4, Hex),
                Wide(5, Hex),
                Word(ARROW),
                Fixed,
            ],
        ),
        FoldKind::Xlate => (
            "xlate",
            &[Wide(0, Hex), Wide(1, Hex), Word(ARROW), Wide(2, Hex), Fixed],
        ),
    }
}

/// The foldable kind written with `keyword` (`indirect` means the linear form).
pub(crate) fn fold_kind_of(keyword: &str) -> Option<FoldKind> {
    [
        FoldKind::Put,
        FoldKind::Get,
        FoldKind::Stuff,
        FoldKind::IndirectLinear,
        FoldKind::Xlate,
    ]
    .into_iter()
    .find(|k| layout(*k).0 == keyword)
}

/// Writes `value` in `radix`.
pub(crate) fn format_u64(value: u64, radix: Radix) -> String {
    match radix {
        Radix::Hex => format!("{value:#x}"),
        Radix::Dec => value.to_string(),
    }
}

/// Writes `value` followed by `step` as `+STEP` / `-STEP` (nothing for a zero step).
pub(crate) fn format_stepped(value: u64, step: u64, radix: Radix) -> String {
    let base = format_u64(value, radix);
    if step == 0 {
        base
    } else if (step as i64) < 0 {
        format!("{base}-{}", format_u64(step.wrapping_neg(), radix))
    } else {
        format!("{base}+{}", format_u64(step, radix))
    }
}

/// Parses an unsigned number: `0x` hex or decimal.
pub(crate) fn parse_u64(token: &str) -> Option<u64> {
    match token
        .strip_prefix("0x")
        .or_else(|| token.strip_prefix("0X"))
    {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u64::from_str_radix(hex, 16).ok()
        }
        Some(_) => None,
        None if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) => {
            token.parse().ok()
        }
        None => None,
    }
}

/// Parses a signed number: optional `-`, then `0x` hex or decimal.
pub(crate) fn parse_i64(token: &str) -> Option<i64> {
    match token.strip_prefix('-') {
        Some(magnitude) => {
            let magnitude = parse_u64(magnitude)?;
            0i64.checked_sub_unsigned(magnitude)
        }
        None => i64::try_from(parse_u64(token)?).ok(),
    }
}

/// Parses `BASE`, `BASE+STEP` or `BASE-STEP` into (base, step as a wrapping increment).
pub(crate) fn parse_stepped(token: &str) -> Option<(u64, u64)> {
    match token.find(['+', '-']) {
        None => Some((parse_u64(token)?, 0)),
        Some(at) => {
            let base = parse_u64(&token[..at])?;
            let step = parse_u64(&token[at + 1..])?;
            let step = if token.as_bytes()[at] == b'-' {
                step.wrapping_neg()
            } else {
                step
            };
            Some((base, step))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_u64("0x1f"), Some(31));
        assert_eq!(parse_u64("31"), Some(31));
        assert_eq!(parse_u64("0x"), None);
        assert_eq!(parse_u64("-1"), None);
        assert_eq!(parse_u64("1g"), None);
        assert_eq!(parse_u64("0x10000000000000000"), None);
        assert_eq!(parse_i64("-3"), Some(-3));
        assert_eq!(parse_i64("-0x10"), Some(-16));
        assert_eq!(parse_i64(&i64::MIN.to_string()), Some(i64::MIN));
        assert_eq!(parse_i64("9223372036854775808"), None);
    }

    #[test]
    fn steps_round_trip() {
        for (value, step) in [(0, 0), (0x1000, 0x1000), (0x5000, 0x1000u64.wrapping_neg())] {
            let text = format_stepped(value, step, Radix::Hex);
            assert_eq!(parse_stepped(&text), Some((value, step)), "{text}");
        }
        assert_eq!(parse_stepped("512+0"), Some((512, 0)));
        assert_eq!(parse_stepped("0x1000+"), None);
        assert_eq!(parse_stepped("+1"), None);
    }
}
