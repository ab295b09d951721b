//! A tiny DNS server over UDP on a random loopback port, for the resolver's DNS tests: each
//! name gets one scripted answer (an address, NXDOMAIN, SERVFAIL or silence), every other name
//! is NXDOMAIN, and the queries received are counted per name. It understands just enough of
//! RFC 1035 for a stub resolver's queries: one question, answers of type A or AAAA.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
};

use tokio::net::UdpSocket;

/// What the server answers for a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsAnswer {
    /// This address, to queries of its type (A or AAAA); NODATA (no error, no answer) to the
    /// other type.
    Address(IpAddr),
    /// NODATA: the name exists but has no address (no error, no answer).
    NoAddress,
    /// NXDOMAIN: the name does not exist.
    NoSuchName,
    /// SERVFAIL: the server cannot answer now.
    ServerFailure,
    /// No answer at all, as a server that is down or a packet lost.
    Silence,
}

/// A running DNS server; stops when dropped.
#[derive(Debug)]
pub struct DnsServer {
    /// Where it listens: give it to the resolver as `dns_servers`.
    pub addr: SocketAddr,
    queries: Arc<Mutex<HashMap<String, u64>>>,
    task: tokio::task::JoinHandle<()>,
}

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const NO_ERROR: u8 = 0;
const SERVER_FAILURE: u8 = 2;
const NO_SUCH_NAME: u8 = 3;

impl DnsServer {
    /// Starts a server answering `answers` (names in any case, without a trailing dot).
    pub async fn start(answers: &[(&str, DnsAnswer)]) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind DNS");
        let addr = socket.local_addr().expect("DNS address");
        let answers: HashMap<String, DnsAnswer> = answers
            .iter()
            .map(|(name, answer)| (name.to_ascii_lowercase(), *answer))
            .collect();
        let queries: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
        let counted = Arc::clone(&queries);
        let task = tokio::spawn(async move {
            let mut packet = [0_u8; 1500];
            loop {
                let Ok((length, from)) = socket.recv_from(&mut packet).await else {
                    continue;
                };
                let Some(query) = Query::parse(&packet[..length]) else {
                    continue;
                };
                *counted
                    .lock()
                    .expect("DNS query counts")
                    .entry(query.name.clone())
                    .or_default() += 1;
                let answer = answers
                    .get(&query.name)
                    .copied()
                    .unwrap_or(DnsAnswer::NoSuchName);
                if let Some(reply) = query.reply(answer) {
                    let _ = socket.send_to(&reply, from).await;
                }
            }
        });
        Self {
            addr,
            queries,
            task,
        }
    }

    /// Queries received for `name` (any type), lower case without a trailing dot.
    pub fn queries_for(&self, name: &str) -> u64 {
        let queries = self.queries.lock().expect("DNS query counts");
        queries.get(name).copied().unwrap_or_default()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One question, as received.
struct Query<'a> {
    packet: &'a [u8],
    /// Where the question ends (the answers go after it).
    question_end: usize,
    name: String,
    kind: u16,
}

impl<'a> Query<'a> {
    fn parse(packet: &'a [u8]) -> Option<Self> {
        if packet.len() < 12 || u16::from_be_bytes([packet[4], packet[5]]) != 1 {
            return None;
        }
        let mut labels = Vec::new();
        let mut at = 12;
        loop {
            let length = usize::from(*packet.get(at)?);
            at += 1;
            if length == 0 {
                break;
            }
            labels.push(String::from_utf8_lossy(packet.get(at..at + length)?).to_ascii_lowercase());
            at += length;
        }
        let kind = u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]);
        Some(Self {
            packet,
            question_end: at + 4,
            name: labels.join("."),
            kind,
        })
    }

    /// The reply to send, or None to stay silent.
    fn reply(&self, answer: DnsAnswer) -> Option<Vec<u8>> {
        let (code, record): (u8, Option<Vec<u8>>) = match answer {
            DnsAnswer::Silence => return None,
            DnsAnswer::NoSuchName => (NO_SUCH_NAME, None),
            DnsAnswer::NoAddress => (NO_ERROR, None),
            DnsAnswer::ServerFailure => (SERVER_FAILURE, None),
            DnsAnswer::Address(IpAddr::V4(ip)) => (
                NO_ERROR,
                (self.kind == TYPE_A).then(|| ip.octets().to_vec()),
            ),
            DnsAnswer::Address(IpAddr::V6(ip)) => (
                NO_ERROR,
                (self.kind == TYPE_AAAA).then(|| ip.octets().to_vec()),
            ),
        };
        let mut reply = Vec::with_capacity(self.question_end + 32);
        reply.extend_from_slice(&self.packet[..2]); // the query's id
        let recursion_desired = self.packet[2] & 0x01;
        reply.push(0x80 | recursion_desired); // a response to a standard query
        reply.push(0x80 | code); // recursion available, the response code
        reply.extend_from_slice(&1_u16.to_be_bytes()); // one question
        reply.extend_from_slice(&u16::from(record.is_some()).to_be_bytes());
        reply.extend_from_slice(&[0, 0, 0, 0]); // no authority, no additional records
        reply.extend_from_slice(&self.packet[12..self.question_end]);
        if let Some(data) = record {
            reply.extend_from_slice(&[0xc0, 12]); // the question's name
            reply.extend_from_slice(&self.kind.to_be_bytes());
            reply.extend_from_slice(&1_u16.to_be_bytes()); // class IN
            reply.extend_from_slice(&60_u32.to_be_bytes()); // TTL
            let length = u16::try_from(data.len()).ok()?;
            reply.extend_from_slice(&length.to_be_bytes());
            reply.extend_from_slice(&data);
        }
        Some(reply)
    }
}
