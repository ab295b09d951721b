//! Results as CSV for downloads: RFC 4180 quoting, and cells a spreadsheet would run as a
//! formula escaped.

use entity::results;

/// A cell that a spreadsheet would not run as a formula: values starting with `=`, `+`, `-`,
/// `@`, tab or carriage return get a leading `'` (OWASP's advice for CSV injection).
pub fn spreadsheet_safe(value: &str) -> std::borrow::Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{value}"))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

/// The CSV header of downloads.
pub const CSV_HEADER: &[&str] = &[
    "domain",
    "favicon_url",
    "status",
    "format",
    "width",
    "height",
    "bytes",
    "source",
    "error_category",
    "error",
    "tries",
    "icon_url",
];

/// Renders results as CSV rows (RFC 4180 quoting, formula cells escaped).
pub fn csv_rows(rows: &[results::Model], with_header: bool) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 96));
    if with_header {
        writer.write_record(CSV_HEADER)?;
    }
    let number = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    for row in rows {
        writer.write_record([
            spreadsheet_safe(&row.domain).as_ref(),
            spreadsheet_safe(row.favicon_url.as_deref().unwrap_or_default()).as_ref(),
            row.status.as_str(),
            row.icon_format.as_deref().unwrap_or_default(),
            &number(row.icon_width.map(i64::from)),
            &number(row.icon_height.map(i64::from)),
            &number(row.icon_bytes),
            row.icon_source.as_deref().unwrap_or_default(),
            row.error_category.as_deref().unwrap_or_default(),
            spreadsheet_safe(row.error.as_deref().unwrap_or_default()).as_ref(),
            &row.tries.to_string(),
            &crate::views::icon_url(&row.domain, row.status).unwrap_or_default(),
        ])?;
    }
    writer
        .into_inner()
        .map_err(|error| csv::Error::from(error.into_error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_escaped() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("+1"), "'+1");
        assert_eq!(spreadsheet_safe("-1"), "'-1");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(spreadsheet_safe("example.com"), "example.com");
    }
}
