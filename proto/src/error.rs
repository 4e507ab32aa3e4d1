//! Errors of reading ([`WireError`]) and writing ([`BuildError`]) messages.
//!
//! Offsets are from the start of the DNS message (the header's first byte), so a caller can log
//! where a peer's message went wrong.

/// A received message that does not follow the wire format. Every variant is a FORMERR
/// (RFC 1035 §4.1.1 RCODE 1) for a server answering it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The message ends inside the field that starts at `offset`.
    #[error("message truncated: the field at offset {offset} runs past its end")]
    Truncated { offset: usize },
    /// A label length byte uses the reserved `01`/`10` high bits (RFC 6891 §5 retired the only
    /// extended label type ever defined).
    #[error("reserved label type at offset {offset}")]
    BadLabelType { offset: usize },
    /// The name starting at `offset` is longer than 255 bytes once decompressed (RFC 1035 §2.3.4).
    #[error("name at offset {offset} is longer than 255 bytes")]
    NameTooLong { offset: usize },
    /// A compression pointer that does not point strictly before itself, that points into the
    /// header, or the 128th pointer of one name. Every cycle of a loop either adds a label (and
    /// soon breaks the 255-byte limit) or is a chain of pointers (strictly decreasing, so it
    /// ends), which is why these checks reject every loop.
    #[error("compression pointer at offset {offset} does not point backwards into the message")]
    BadPointer { offset: usize },
    /// The RDATA of the record at `offset` does not frame as its type requires (a name running
    /// past RDLENGTH, missing fixed fields, bytes left over).
    #[error("RDATA of the type {rtype} record at offset {offset} does not match the type's format")]
    BadRdata { offset: usize, rtype: u16 },
    /// Decompressing the RDATA of the record at `offset` makes it longer than RDLENGTH can say.
    #[error("decompressed RDATA of the record at offset {offset} is longer than 65535 bytes")]
    RdataTooLong { offset: usize },
    /// Bytes follow the last record the header counts.
    #[error("{count} bytes after the last record (offset {offset})")]
    TrailingBytes { offset: usize, count: usize },
    /// A TSIG record that is not the last record of the additional section (RFC 8945 §5.1),
    /// which also covers a second TSIG.
    #[error("TSIG record at offset {offset} is not the last record of the additional section")]
    MisplacedTsig { offset: usize },
    /// A TSIG record with a wrong class or TTL, or RDATA that does not frame (RFC 8945 §4.2).
    #[error("malformed TSIG record at offset {offset}: {reason}")]
    BadTsig { offset: usize, reason: &'static str },
}

/// A message or record that cannot be written as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A name that is not a valid uncompressed wire name (labels of at most 63 bytes, at most 255
    /// bytes in all, ending with the root label and nothing after it).
    #[error("not a valid uncompressed wire name")]
    BadName,
    /// RDATA longer than a 16-bit length can say.
    #[error("RDATA longer than 65535 bytes")]
    RdataTooLong,
    /// The record does not fit within the message size limit; the message is left as it was.
    #[error("record does not fit in the message size limit of {limit} bytes")]
    MessageFull { limit: usize },
    /// A question after a record, or a record of an earlier section after a later one.
    #[error("sections must be written in order: question, answer, authority, additional")]
    SectionOrder,
    /// A section would count more than 65535 records.
    #[error("more than 65535 records in a section")]
    TooManyRecords,
}
