//! Writing and reading Ethernet pcap files for tests.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::DataLink;

/// One captured frame: timestamp in nanoseconds and bytes.
pub type Captured = (u64, Vec<u8>);

/// Write frames as an Ethernet pcap.
pub fn write_pcap(path: &Path, frames: &[Captured]) -> std::io::Result<()> {
    write_pcap_linktype(path, frames, DataLink::ETHERNET)
}

/// Write frames with any link type (to test that non-Ethernet captures are refused).
pub fn write_pcap_linktype(path: &Path, frames: &[Captured], datalink: DataLink) -> std::io::Result<()> {
    let f = BufWriter::new(File::create(path)?);
    let header = PcapHeader { datalink, snaplen: 65535, ..Default::default() };
    let mut w = PcapWriter::with_header(f, header).map_err(std::io::Error::other)?;
    for (ts, data) in frames {
        w.write_packet(&PcapPacket::new(Duration::from_nanos(*ts), data.len() as u32, data))
            .map_err(std::io::Error::other)?;
    }
    Ok(())
}

/// Read every frame of a pcap file.
pub fn read_pcap(path: &Path) -> std::io::Result<Vec<Captured>> {
    let mut r = PcapReader::new(BufReader::new(File::open(path)?)).map_err(std::io::Error::other)?;
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.map_err(std::io::Error::other)?;
        out.push((p.timestamp.as_nanos() as u64, p.data.into_owned()));
    }
    Ok(out)
}
