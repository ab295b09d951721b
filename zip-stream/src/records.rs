//! The byte layout of a STORED ZIP archive (APPNOTE.TXT 6.3.x), one record at a time.

/// Local file header signature.
const LOCAL_HEADER_SIGNATURE: u32 = 0x0403_4b50;
/// Central directory file header signature.
const CENTRAL_HEADER_SIGNATURE: u32 = 0x0201_4b50;
/// End of central directory record signature.
const END_SIGNATURE: u32 = 0x0605_4b50;
/// ZIP64 end of central directory record signature.
const ZIP64_END_SIGNATURE: u32 = 0x0606_4b50;
/// ZIP64 end of central directory locator signature.
const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
/// Header id of the ZIP64 extended information extra field.
const ZIP64_EXTRA_ID: u16 = 0x0001;

/// Version needed to extract a plain STORED entry (2.0).
const VERSION_PLAIN: u16 = 20;
/// Version needed to extract an entry with ZIP64 fields (4.5).
const VERSION_ZIP64: u16 = 45;
/// Version made by: UNIX (3) in the high byte, so external attributes carry permissions.
const VERSION_MADE_BY: u16 = (3 << 8) | VERSION_ZIP64;
/// General purpose bit 11: the name is UTF-8.
const FLAG_UTF8: u16 = 1 << 11;
/// Compression method 0: stored.
const METHOD_STORED: u16 = 0;
/// MS-DOS time 00:00:00.
const DOS_TIME: u16 = 0;
/// MS-DOS date 1980-01-01, the earliest a ZIP can say: archives are reproducible.
const DOS_DATE: u16 = (1 << 5) | 1;
/// A regular file readable by everyone (`-rw-r--r--`), in the high half of the attributes.
const EXTERNAL_ATTRIBUTES: u32 = 0o100_644 << 16;

/// Fixed part of a local file header.
const LOCAL_HEADER_FIXED_LEN: u64 = 30;
/// Fixed part of a central directory file header.
const CENTRAL_HEADER_FIXED_LEN: u64 = 46;
/// End of central directory record without comment.
const END_LEN: u64 = 22;
/// ZIP64 end of central directory record (version 1, no extensible data).
const ZIP64_END_LEN: u64 = 56;
/// ZIP64 end of central directory locator.
const ZIP64_LOCATOR_LEN: u64 = 20;

/// Largest value a 16-bit count holds before ZIP64 takes over.
const MAX_U16: u64 = 0xFFFF;
/// Largest value a 32-bit size or offset holds before ZIP64 takes over.
const MAX_U32: u64 = 0xFFFF_FFFF;

/// One archive entry as both passes see it: what the local header and the central directory
/// say of it, known before its data is read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntryMeta {
    /// Path inside the archive, `/`-separated, relative, UTF-8.
    pub name: String,
    /// Exact length of the data in bytes.
    pub size: u64,
    /// CRC-32 (IEEE, as [`crc32`] computes it) of the data.
    pub crc32: u32,
}

impl EntryMeta {
    /// An entry named `name` whose data is `size` bytes with CRC-32 `crc32`.
    pub fn new(name: impl Into<String>, size: u64, crc32: u32) -> Self {
        Self {
            name: name.into(),
            size,
            crc32,
        }
    }

    /// Checks that the name can be written and is safe to extract: not empty, at most
    /// 65,535 bytes, relative, with no `..` component, no backslash and no NUL.
    pub fn validate(&self) -> Result<(), InvalidEntry> {
        let name = &self.name;
        let reason = if name.is_empty() {
            "is empty"
        } else if name.len() > MAX_U16 as usize {
            "is longer than 65,535 bytes"
        } else if name.starts_with('/') {
            "is absolute"
        } else if name.split('/').any(|part| part == "..") {
            "has a `..` component"
        } else if name.contains('\\') {
            "has a backslash"
        } else if name.contains('\0') {
            "has a NUL character"
        } else {
            return Ok(());
        };
        Err(InvalidEntry {
            name: name.chars().take(200).collect(),
            reason,
        })
    }

    /// Whether the sizes need the ZIP64 extra field.
    fn needs_zip64_sizes(&self) -> bool {
        self.size >= MAX_U32
    }

    /// Length of the local header written for this entry.
    pub fn local_header_len(&self) -> u64 {
        let extra = if self.needs_zip64_sizes() { 20 } else { 0 };
        LOCAL_HEADER_FIXED_LEN + self.name.len() as u64 + extra
    }

    /// Length of the central directory header written for this entry at `offset`.
    pub fn central_directory_header_len(&self, offset: u64) -> u64 {
        CENTRAL_HEADER_FIXED_LEN + self.name.len() as u64 + central_extra_len(self, offset)
    }
}

/// An entry name that cannot be written, or would be unsafe to extract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("zip entry name {name:?} {reason}")]
pub struct InvalidEntry {
    /// The name (its first 200 characters).
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// The CRC-32 a ZIP entry records (IEEE polynomial), for callers that store it with the data.
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// The local file header of `entry` (signature to extra field), to be followed by exactly
/// `entry.size` bytes of data.
pub fn local_header(entry: &EntryMeta) -> Result<Vec<u8>, InvalidEntry> {
    entry.validate()?;
    let zip64 = entry.needs_zip64_sizes();
    let mut out = Vec::with_capacity(entry.local_header_len() as usize);
    put_u32(&mut out, LOCAL_HEADER_SIGNATURE);
    put_u16(&mut out, if zip64 { VERSION_ZIP64 } else { VERSION_PLAIN });
    put_u16(&mut out, FLAG_UTF8);
    put_u16(&mut out, METHOD_STORED);
    put_u16(&mut out, DOS_TIME);
    put_u16(&mut out, DOS_DATE);
    put_u32(&mut out, entry.crc32);
    let size32 = clamp_u32(entry.size);
    put_u32(&mut out, size32); // compressed size
    put_u32(&mut out, size32); // uncompressed size
    put_u16(&mut out, entry.name.len() as u16);
    put_u16(&mut out, if zip64 { 20 } else { 0 });
    out.extend_from_slice(entry.name.as_bytes());
    if zip64 {
        put_u16(&mut out, ZIP64_EXTRA_ID);
        put_u16(&mut out, 16);
        put_u64(&mut out, entry.size); // uncompressed
        put_u64(&mut out, entry.size); // compressed
    }
    Ok(out)
}

/// The central directory header of `entry`, whose local header starts at byte
/// `local_header_offset` of the archive.
pub fn central_directory_header(
    entry: &EntryMeta,
    local_header_offset: u64,
) -> Result<Vec<u8>, InvalidEntry> {
    entry.validate()?;
    let extra_len = central_extra_len(entry, local_header_offset);
    let zip64 = extra_len > 0;
    let mut out =
        Vec::with_capacity(entry.central_directory_header_len(local_header_offset) as usize);
    put_u32(&mut out, CENTRAL_HEADER_SIGNATURE);
    put_u16(&mut out, VERSION_MADE_BY);
    put_u16(&mut out, if zip64 { VERSION_ZIP64 } else { VERSION_PLAIN });
    put_u16(&mut out, FLAG_UTF8);
    put_u16(&mut out, METHOD_STORED);
    put_u16(&mut out, DOS_TIME);
    put_u16(&mut out, DOS_DATE);
    put_u32(&mut out, entry.crc32);
    let size32 = clamp_u32(entry.size);
    put_u32(&mut out, size32); // compressed size
    put_u32(&mut out, size32); // uncompressed size
    put_u16(&mut out, entry.name.len() as u16);
    put_u16(&mut out, extra_len as u16);
    put_u16(&mut out, 0); // comment length
    put_u16(&mut out, 0); // disk number start
    put_u16(&mut out, 0); // internal attributes
    put_u32(&mut out, EXTERNAL_ATTRIBUTES);
    put_u32(&mut out, clamp_u32(local_header_offset));
    out.extend_from_slice(entry.name.as_bytes());
    if zip64 {
        put_u16(&mut out, ZIP64_EXTRA_ID);
        put_u16(&mut out, (extra_len - 4) as u16);
        // Only the fields whose 32-bit slot says 0xFFFFFFFF, in this order (APPNOTE 4.5.3).
        if entry.needs_zip64_sizes() {
            put_u64(&mut out, entry.size); // uncompressed
            put_u64(&mut out, entry.size); // compressed
        }
        if local_header_offset >= MAX_U32 {
            put_u64(&mut out, local_header_offset);
        }
    }
    Ok(out)
}

/// Length of the ZIP64 extra field of a central directory header, 0 when none is needed.
fn central_extra_len(entry: &EntryMeta, offset: u64) -> u64 {
    let mut fields = 0;
    if entry.needs_zip64_sizes() {
        fields += 2;
    }
    if offset >= MAX_U32 {
        fields += 1;
    }
    if fields == 0 { 0 } else { 4 + 8 * fields }
}

/// Whether the end of the archive needs the ZIP64 records.
fn needs_zip64_end(
    entry_count: u64,
    central_directory_offset: u64,
    central_directory_size: u64,
) -> bool {
    entry_count >= MAX_U16
        || central_directory_offset >= MAX_U32
        || central_directory_size >= MAX_U32
}

/// The records that close the archive: the ZIP64 end of central directory record and its
/// locator when needed, then the end of central directory record. `central_directory_offset`
/// is where the first central directory header starts, `central_directory_size` the length of
/// all of them; the ZIP64 record, when written, starts right after them.
pub fn end_records(
    entry_count: u64,
    central_directory_offset: u64,
    central_directory_size: u64,
) -> Vec<u8> {
    let zip64 = needs_zip64_end(
        entry_count,
        central_directory_offset,
        central_directory_size,
    );
    let mut out = Vec::with_capacity(end_records_len(zip64) as usize);
    if zip64 {
        let zip64_end_offset = central_directory_offset + central_directory_size;
        put_u32(&mut out, ZIP64_END_SIGNATURE);
        put_u64(&mut out, ZIP64_END_LEN - 12); // size of the rest of the record
        put_u16(&mut out, VERSION_MADE_BY);
        put_u16(&mut out, VERSION_ZIP64);
        put_u32(&mut out, 0); // this disk
        put_u32(&mut out, 0); // disk where the central directory starts
        put_u64(&mut out, entry_count); // entries on this disk
        put_u64(&mut out, entry_count); // entries in total
        put_u64(&mut out, central_directory_size);
        put_u64(&mut out, central_directory_offset);

        put_u32(&mut out, ZIP64_LOCATOR_SIGNATURE);
        put_u32(&mut out, 0); // disk with the ZIP64 end record
        put_u64(&mut out, zip64_end_offset);
        put_u32(&mut out, 1); // total number of disks
    }
    let count16 = if zip64 {
        MAX_U16 as u16
    } else {
        entry_count as u16
    };
    put_u32(&mut out, END_SIGNATURE);
    put_u16(&mut out, 0); // this disk
    put_u16(&mut out, 0); // disk where the central directory starts
    put_u16(&mut out, count16);
    put_u16(&mut out, count16);
    put_u32(&mut out, clamp_u32(central_directory_size));
    put_u32(&mut out, clamp_u32(central_directory_offset));
    put_u16(&mut out, 0); // comment length
    out
}

/// Length of what [`end_records`] writes.
fn end_records_len(zip64: bool) -> u64 {
    if zip64 {
        ZIP64_END_LEN + ZIP64_LOCATOR_LEN + END_LEN
    } else {
        END_LEN
    }
}

/// Computes an archive's exact length from one pass over its entries' metadata, in flat
/// memory: what a server needs for a `Content-Length` header before streaming.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveLength {
    entries: u64,
    /// Local headers and data so far: also the offset of the next local header.
    locals_len: u64,
    central_directory_len: u64,
}

impl ArchiveLength {
    /// No entries yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next entry, in archive order.
    pub fn add(&mut self, entry: &EntryMeta) -> Result<(), InvalidEntry> {
        entry.validate()?;
        let offset = self.locals_len;
        self.entries += 1;
        self.locals_len += entry.local_header_len() + entry.size;
        self.central_directory_len += entry.central_directory_header_len(offset);
        Ok(())
    }

    /// The length of the whole archive of the entries added so far.
    pub fn total(&self) -> u64 {
        let zip64 = needs_zip64_end(self.entries, self.locals_len, self.central_directory_len);
        self.locals_len + self.central_directory_len + end_records_len(zip64)
    }

    /// The length of the archive of `entries`, in order.
    pub fn of<I>(entries: I) -> Result<u64, InvalidEntry>
    where
        I: IntoIterator,
        I::Item: std::borrow::Borrow<EntryMeta>,
    {
        let mut length = Self::new();
        for entry in entries {
            length.add(std::borrow::Borrow::borrow(&entry))?;
        }
        Ok(length.total())
    }
}

/// A value for a 32-bit field: itself, or 0xFFFFFFFF when the ZIP64 field holds it.
fn clamp_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_header_has_the_promised_length_and_fields() {
        let entry = EntryMeta::new("ä/b.png", 5, 0xDEAD_BEEF);
        let header = local_header(&entry).unwrap();
        assert_eq!(header.len() as u64, entry.local_header_len());
        assert_eq!(&header[..4], b"PK\x03\x04");
        assert_eq!(u16::from_le_bytes([header[6], header[7]]), FLAG_UTF8);
        assert_eq!(&header[14..18], &0xDEAD_BEEF_u32.to_le_bytes());
        assert_eq!(&header[30..], "ä/b.png".as_bytes());
    }

    #[test]
    fn large_entries_and_offsets_get_zip64_fields() {
        let big = EntryMeta::new("big", 5 << 30, 1);
        let local = local_header(&big).unwrap();
        assert_eq!(local.len() as u64, big.local_header_len());
        assert_eq!(&local[18..26], &[0xFF; 8]);
        let central = central_directory_header(&big, 6 << 30).unwrap();
        assert_eq!(
            central.len() as u64,
            big.central_directory_header_len(6 << 30)
        );
        assert_eq!(central.len(), 46 + 3 + 4 + 24);
        let small_far = EntryMeta::new("far", 1, 1);
        let central = central_directory_header(&small_far, 6 << 30).unwrap();
        assert_eq!(central.len(), 46 + 3 + 4 + 8);
        assert_eq!(&central[central.len() - 8..], &(6_u64 << 30).to_le_bytes());
    }

    #[test]
    fn end_records_switch_to_zip64_when_needed() {
        assert_eq!(end_records(3, 100, 150).len() as u64, END_LEN);
        let many = end_records(70_000, 100, 150);
        assert_eq!(
            many.len() as u64,
            ZIP64_END_LEN + ZIP64_LOCATOR_LEN + END_LEN
        );
        assert_eq!(&many[..4], &ZIP64_END_SIGNATURE.to_le_bytes());
        assert_eq!(
            end_records(1, 5 << 30, 10).len() as u64,
            ZIP64_END_LEN + ZIP64_LOCATOR_LEN + END_LEN
        );
    }

    #[test]
    fn unsafe_or_unwritable_names_are_refused() {
        for name in ["", "/etc/passwd", "a/../../b", "..", "a\\b", "a\0b"] {
            assert!(
                local_header(&EntryMeta::new(name, 0, 0)).is_err(),
                "{name:?}"
            );
        }
        assert!(local_header(&EntryMeta::new("x".repeat(70_000), 0, 0)).is_err());
        assert!(local_header(&EntryMeta::new("a..b/c.d", 0, 0)).is_ok());
    }

    #[test]
    fn crc32_is_the_zip_polynomial() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }
}
