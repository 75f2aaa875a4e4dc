//! pcap ports: read a capture (pcap or pcapng), write transmitted frames to a pcap file.
//!
//! Invariants:
//! - Only Ethernet captures are accepted; anything else is refused with a clear error
//!   before a frame is processed.
//! - Each frame keeps its capture timestamp (`FrameBuf::ts_ns`), which replay uses as the
//!   clock; the written file carries the timestamp of the frame that caused each output.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;

use crate::port::{FrameBuf, Port, Verdict};

#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: not a pcap or pcapng capture ({detail})")]
    Format { path: String, detail: String },
    #[error("{path}: link type {link:?} is not Ethernet; xvs replays Ethernet captures only (capture on an Ethernet interface, not 'any')")]
    NotEthernet { path: String, link: DataLink },
}

enum Reader {
    Pcap(PcapReader<BufReader<File>>),
    PcapNg(PcapNgReader<BufReader<File>>),
}

/// A capture file as a finite port. Transmitted frames go to an optional writer.
pub struct PcapPort {
    path: String,
    reader: Reader,
    writer: Option<PcapWriter<BufWriter<File>>>,
    done: bool,
    pool: Vec<FrameBuf>,
    /// Frames written.
    pub written: u64,
}

impl std::fmt::Debug for PcapPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapPort").field("path", &self.path).field("written", &self.written).finish()
    }
}

impl PcapPort {
    /// Open `input` for reading and, if given, create `output` for transmitted frames.
    pub fn open(input: &Path, output: Option<&Path>) -> Result<PcapPort, PcapError> {
        let path = input.display().to_string();
        let io_err = |p: &str, source| PcapError::Io { path: p.to_string(), source };
        let mut file = File::open(input).map_err(|e| io_err(&path, e))?;
        let mut magic = [0u8; 4];
        file.read_exact(&mut magic).map_err(|e| io_err(&path, e))?;
        file.rewind().map_err(|e| io_err(&path, e))?;
        let reader = if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
            let r = PcapNgReader::new(BufReader::new(file))
                .map_err(|e| PcapError::Format { path: path.clone(), detail: e.to_string() })?;
            if let Some(idb) = r.interfaces().first() {
                if idb.linktype != DataLink::ETHERNET {
                    return Err(PcapError::NotEthernet { path, link: idb.linktype });
                }
            }
            Reader::PcapNg(r)
        } else {
            let r = PcapReader::new(BufReader::new(file))
                .map_err(|e| PcapError::Format { path: path.clone(), detail: e.to_string() })?;
            let link = r.header().datalink;
            if link != DataLink::ETHERNET {
                return Err(PcapError::NotEthernet { path, link });
            }
            Reader::Pcap(r)
        };
        let writer = match output {
            Some(out) => {
                let op = out.display().to_string();
                let f = File::create(out).map_err(|e| io_err(&op, e))?;
                let header = PcapHeader { datalink: DataLink::ETHERNET, snaplen: 65535, ..Default::default() };
                Some(
                    PcapWriter::with_header(BufWriter::new(f), header)
                        .map_err(|e| PcapError::Format { path: op, detail: e.to_string() })?,
                )
            }
            None => None,
        };
        Ok(PcapPort { path, reader, writer, done: false, pool: Vec::new(), written: 0 })
    }

    /// The next frame's bytes and timestamp, or None at the end.
    fn next_frame(&mut self) -> io::Result<Option<(Vec<u8>, u64)>> {
        let fmt_err = |e: pcap_file::PcapError| io::Error::new(io::ErrorKind::InvalidData, e.to_string());
        match &mut self.reader {
            Reader::Pcap(r) => match r.next_packet() {
                None => Ok(None),
                Some(Err(e)) => Err(fmt_err(e)),
                Some(Ok(p)) => Ok(Some((p.data.into_owned(), p.timestamp.as_nanos() as u64))),
            },
            Reader::PcapNg(r) => loop {
                let ifaces: Vec<_> = r.interfaces().iter().map(|i| (i.linktype, i.options.clone())).collect();
                match r.next_block() {
                    None => return Ok(None),
                    Some(Err(e)) => return Err(fmt_err(e)),
                    Some(Ok(Block::EnhancedPacket(p))) => {
                        if let Some((link, _)) = ifaces.get(p.interface_id as usize) {
                            if *link != DataLink::ETHERNET {
                                return Err(io::Error::new(
                                    io::ErrorKind::InvalidData,
                                    format!("{}: interface {} is not Ethernet ({link:?})", self.path, p.interface_id),
                                ));
                            }
                        }
                        return Ok(Some((p.data.into_owned(), p.timestamp.as_nanos() as u64)));
                    }
                    Some(Ok(Block::SimplePacket(p))) => return Ok(Some((p.data.into_owned(), 0))),
                    Some(Ok(_)) => continue,
                }
            },
        }
    }

    /// Flush the output file.
    pub fn finish(&mut self) -> io::Result<()> {
        if let Some(w) = self.writer.take() {
            let mut inner = w.into_writer();
            io::Write::flush(&mut inner)?;
        }
        Ok(())
    }
}

impl Port for PcapPort {
    type Frame = FrameBuf;

    fn recv(&mut self, batch: &mut Vec<FrameBuf>, max: usize) -> io::Result<usize> {
        batch.clear();
        while batch.len() < max {
            match self.next_frame()? {
                Some((data, ts)) => {
                    let mut f = self.pool.pop().unwrap_or_default();
                    f.load(&data);
                    f.ts_ns = ts;
                    f.port = 0;
                    batch.push(f);
                }
                None => {
                    self.done = true;
                    break;
                }
            }
        }
        Ok(batch.len())
    }

    fn send(&mut self, batch: &mut Vec<FrameBuf>, verdicts: &[Verdict]) -> io::Result<()> {
        for (f, v) in batch.drain(..).zip(verdicts.iter()) {
            if let (Verdict::Tx { .. }, Some(w)) = (v, self.writer.as_mut()) {
                let data = f.data();
                let pkt = PcapPacket::new(Duration::from_nanos(f.ts_ns), data.len() as u32, data);
                w.write_packet(&pkt).map_err(|e| io::Error::other(e.to_string()))?;
                self.written += 1;
            }
            self.pool.push(f);
        }
        Ok(())
    }

    fn is_exhausted(&self) -> bool {
        self.done
    }
}
