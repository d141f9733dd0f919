//! The pcapng blocks wirelab writes, per draft-ietf-opsawg-pcapng ("PCAP Now Generic"):
//!
//! - §4.1 Section Header Block, little-endian, version 1.0, section length -1, option
//!   `shb_userappl` = "wirelab", and an `opt_comment` when `--capture first:N` cut the capture
//!   (written with pcap-file);
//! - §4.2 Interface Description Block: LINKTYPE_RAW (101), snaplen 65535, `if_name` and
//!   `if_description` = the vantage point's host name, `if_tsresol` = 6 (µs) (pcap-file);
//! - §4.5 Name Resolution Block: one `nrb_record_ipv4` per host (pcap-file);
//! - §4.7 Decryption Secrets Block: secrets type `TLSK` (0x544c534b), the SSLKEYLOGFILE text.
//!   pcap-file has no DSB type, so it is written here by hand. Wireshark only applies it to
//!   packets that follow it, so it goes before the first EPB;
//! - §4.3 Enhanced Packet Block with option 1 `opt_comment` (§3.5 Options). Written here by hand
//!   (one pass, no per-packet allocation, which pcap-file's EPB with its options `Vec` and
//!   length-measuring double write would cost); the tests check pcap-file reads them back.
//!
//! Every block is type, total length, body padded to 32 bits, total length again (§3.1).

use std::borrow::Cow;

use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption, InterfaceTsResolution,
};
use pcap_file::pcapng::blocks::name_resolution::{Ipv4Record, NameResolutionBlock, Record};
use pcap_file::pcapng::blocks::opt_common::CommonOption;
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, Endianness};

/// Block type of a Decryption Secrets Block (§4.7).
pub const DSB_BLOCK_TYPE: u32 = 0x0000_000A;
/// Block type of an Enhanced Packet Block (§4.3).
pub const EPB_BLOCK_TYPE: u32 = 0x0000_0006;
/// DSB secrets type for a TLS key log in NSS SSLKEYLOGFILE format ("TLSK", §4.7).
pub const SECRETS_TYPE_TLS: u32 = 0x544c_534b;
/// `opt_comment` (§3.5): a UTF-8 string, not zero-terminated.
pub const OPT_COMMENT: u16 = 1;
/// LINKTYPE_RAW: the packet starts with the IPv4 (or IPv6) header.
pub const LINKTYPE_RAW: u32 = 101;
/// Snapshot length written in the IDB: the largest IPv4 packet.
pub const SNAPLEN: u32 = 65_535;

/// Zero bytes needed after `len` bytes to reach a 32-bit boundary.
fn pad(len: usize) -> usize {
    (4 - len % 4) % 4
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends `bytes` and zero padding to a 32-bit boundary.
fn put_padded(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(bytes);
    out.extend_from_slice(&[0; 3][..pad(bytes.len())]);
}

/// Writes the SHB (with `comment` as its `opt_comment`, if any), the IDB and (if there are
/// names) the NRB with pcap-file.
pub fn write_header(out: &mut Vec<u8>, interface: &str, names: &[(std::net::Ipv4Addr, String)], comment: Option<&str>) {
    let mut options = vec![SectionHeaderOption::UserApplication(Cow::Borrowed("wirelab"))];
    if let Some(c) = comment {
        options.push(SectionHeaderOption::Common(CommonOption::Comment(Cow::Borrowed(option_value(c)))));
    }
    let section = SectionHeaderBlock {
        endianness: Endianness::Little,
        major_version: 1,
        minor_version: 0,
        section_length: -1,
        options,
    };
    // Writing to a Vec cannot fail on I/O; the blocks below pass pcap-file's validation for
    // any input (the linktype fits in 16 bits, names are non-empty and NUL-free).
    let mut w = PcapNgWriter::with_section_header(out, section).expect("valid SHB");
    let mut idb = InterfaceDescriptionBlock::new(DataLink::from(LINKTYPE_RAW), SNAPLEN);
    idb.options = vec![
        InterfaceDescriptionOption::IfName(Cow::Borrowed(interface)),
        InterfaceDescriptionOption::IfDescription(Cow::Borrowed(interface)),
        InterfaceDescriptionOption::IfTsResol(InterfaceTsResolution::MICRO),
    ];
    w.write_pcapng_block(idb).expect("valid IDB");
    let records: Vec<Record> = names
        .iter()
        .filter_map(|(ip, name)| {
            let name: String = name.chars().filter(|&c| c != '\0').collect();
            (!name.is_empty()).then(|| Record::Ipv4(Ipv4Record { ip_addr: *ip, names: vec![Cow::Owned(name)] }))
        })
        .collect();
    if !records.is_empty() {
        let nrb = NameResolutionBlock { records, options: vec![] };
        w.write_pcapng_block(nrb).expect("valid NRB");
    }
}

/// Writes a Decryption Secrets Block (§4.7): block type, total length, secrets type, secrets
/// length, secrets data padded to 32 bits, no options, total length.
pub fn write_dsb(out: &mut Vec<u8>, secrets_type: u32, secrets: &[u8]) {
    let total = 20 + secrets.len() + pad(secrets.len());
    let total = u32::try_from(total).expect("key log under 4 GiB");
    put_u32(out, DSB_BLOCK_TYPE);
    put_u32(out, total);
    put_u32(out, secrets_type);
    put_u32(out, secrets.len() as u32);
    put_padded(out, secrets);
    put_u32(out, total);
}

/// The longest prefix of `s` that fits in an option value (16-bit length) on a char boundary.
fn option_value(s: &str) -> &str {
    let mut end = s.len().min(usize::from(u16::MAX));
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Writes an Enhanced Packet Block (§4.3) on interface 0 with timestamp `ts` (in the IDB's
/// resolution: µs since the Unix epoch), the packet's first bytes `data` of `orig_len` on the
/// wire and, if `comment` is non-empty, an `opt_comment` followed by `opt_endofopt`.
pub fn write_epb(out: &mut Vec<u8>, ts: u64, data: &[u8], orig_len: usize, comment: &str) {
    let at = write_epb_around(out, ts, data.len(), orig_len, comment);
    out.splice(at..at, data.iter().copied());
}

/// Writes the parts of an EPB around the packet's bytes (of `len` bytes, which the caller
/// puts in), with one reservation: the header, then the packet's padding, the comment and the
/// block's length. Returns where in `out` the packet's bytes go.
pub fn write_epb_around(out: &mut Vec<u8>, ts: u64, len: usize, orig_len: usize, comment: &str) -> usize {
    let comment = option_value(comment);
    let options = if comment.is_empty() { 0 } else { 4 + comment.len() + pad(comment.len()) + 4 };
    let total = 32 + len + pad(len) + options;
    let total = u32::try_from(total).expect("packet under 4 GiB");
    let captured = u32::try_from(len).expect("packet under 4 GiB");
    let orig = u32::try_from(orig_len.max(len)).unwrap_or(u32::MAX);
    out.reserve(32 + pad(len) + options);
    // Type, total length, interface id, timestamp (high, low), captured and original length.
    let mut head = [0; 28];
    for (i, v) in [EPB_BLOCK_TYPE, total, 0, (ts >> 32) as u32, ts as u32, captured, orig].into_iter().enumerate() {
        head[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&head);
    let at = out.len();
    // The packet's padding and the option's header; then the comment; then its padding,
    // opt_endofopt and the total length.
    let mut before = [0; 7];
    let p = pad(len);
    let mut after = [0; 11];
    let t = pad(comment.len()) + if comment.is_empty() { 0 } else { 4 };
    after[t..t + 4].copy_from_slice(&total.to_le_bytes());
    if comment.is_empty() {
        out.extend_from_slice(&before[..p]);
    } else {
        before[p..p + 2].copy_from_slice(&OPT_COMMENT.to_le_bytes());
        before[p + 2..p + 4].copy_from_slice(&(comment.len() as u16).to_le_bytes());
        out.extend_from_slice(&before[..p + 4]);
        out.extend_from_slice(comment.as_bytes());
    }
    out.extend_from_slice(&after[..t + 4]);
    at
}
