//! The entries of an ICO file, to decode the one closest to a size instead of the largest.

use crate::render::RenderError;
use crate::types::SourceFormat;

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
const HEADER_LEN: usize = 6;
const DIRECTORY_ENTRY_LEN: usize = 16;

/// One image inside an ICO.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IcoEntry<'a> {
    /// Width in pixels: a PNG entry's own, else the directory's (0 meaning 256).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bits per pixel the directory declares (0 when unknown).
    pub bit_count: u16,
    /// The entry's directory record, as stored.
    pub directory_entry: &'a [u8],
    /// The entry's data: a whole PNG file, or a BMP without its file header.
    pub data: &'a [u8],
}

impl IcoEntry<'_> {
    /// Whether the entry's data is a PNG file (else a headerless BMP with its AND mask).
    pub fn is_png(&self) -> bool {
        self.data.starts_with(PNG_SIGNATURE)
    }

    fn extent(&self) -> u32 {
        self.width.max(self.height)
    }

    /// An ICO file holding only this entry, for a decoder that would otherwise pick the
    /// largest.
    pub fn as_single_entry_ico(&self) -> Vec<u8> {
        let data_offset = (HEADER_LEN + DIRECTORY_ENTRY_LEN) as u32;
        let mut file = Vec::with_capacity(HEADER_LEN + DIRECTORY_ENTRY_LEN + self.data.len());
        file.extend_from_slice(&[0, 0, 1, 0, 1, 0]);
        file.extend_from_slice(&self.directory_entry[..8]);
        file.extend_from_slice(&(self.data.len() as u32).to_le_bytes());
        file.extend_from_slice(&data_offset.to_le_bytes());
        file.extend_from_slice(self.data);
        file
    }
}

/// The entries of the ICO in `bytes` whose data lies within the file; an error when the
/// header is not an icon's or no entry is usable.
pub(crate) fn entries(bytes: &[u8]) -> Result<Vec<IcoEntry<'_>>, RenderError> {
    let invalid = |reason: &str| RenderError::Decode {
        format: SourceFormat::Ico,
        reason: reason.to_owned(),
    };
    let header = bytes
        .get(..HEADER_LEN)
        .ok_or_else(|| invalid("shorter than its header"))?;
    if header[..4] != [0, 0, 1, 0] {
        return Err(invalid("no icon header"));
    }
    let count = usize::from(u16::from_le_bytes([header[4], header[5]]));
    let mut entries = Vec::new();
    for index in 0..count {
        let start = HEADER_LEN + index * DIRECTORY_ENTRY_LEN;
        let Some(record) = bytes.get(start..start + DIRECTORY_ENTRY_LEN) else {
            break;
        };
        let size = u32::from_le_bytes([record[8], record[9], record[10], record[11]]) as usize;
        let offset = u32::from_le_bytes([record[12], record[13], record[14], record[15]]) as usize;
        let Some(data) = offset
            .checked_add(size)
            .and_then(|end| bytes.get(offset..end))
        else {
            continue;
        };
        let side = |byte: u8| if byte == 0 { 256 } else { u32::from(byte) };
        let (width, height) = png_dimensions(data).unwrap_or((side(record[0]), side(record[1])));
        entries.push(IcoEntry {
            width,
            height,
            bit_count: u16::from_le_bytes([record[6], record[7]]),
            directory_entry: record,
            data,
        });
    }
    if entries.is_empty() {
        return Err(invalid("no entry within the file"));
    }
    Ok(entries)
}

/// The entry closest to `size`: the smallest at least `size`, else the largest; among equal
/// sizes the deepest colour, then PNG data.
pub(crate) fn closest<'e, 'a>(entries: &'e [IcoEntry<'a>], size: u32) -> Option<&'e IcoEntry<'a>> {
    entries.iter().min_by_key(|entry| {
        let extent = entry.extent();
        let by_size = if extent >= size {
            (0, extent)
        } else {
            (1, u32::MAX - extent)
        };
        (by_size, u16::MAX - entry.bit_count, !entry.is_png())
    })
}

/// The dimensions in a PNG's IHDR chunk, when `data` is a PNG.
fn png_dimensions(data: &[u8]) -> Option<(u32, u32)> {
    if !data.starts_with(PNG_SIGNATURE) || data.get(12..16) != Some(b"IHDR") {
        return None;
    }
    let be32 = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
    };
    Some((be32(16)?, be32(20)?))
}
