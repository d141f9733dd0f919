//! The ladder diagram: one lane per host, one slanted arrow per packet from the moment its
//! sender sent it to the moment its receiver got it, to scale in time.
//!
//! A capture taken at one host cannot draw this (tcptrace has to guess the far end's times);
//! wirelab can, because every host runs on one clock and the network keeps a record of each
//! packet. The picture is rendered from those records ([`Ladder`]), never from comment text.
//!
//! Readability rules:
//! - runs of plain data segments or pure ACKs sent in one direction within a quarter of an RTT
//!   of each other are drawn as a *flight*: one band with its segment and byte counts (each
//!   packet stays in the band as a thin line carrying its own data);
//! - an idle stretch longer than four RTTs (a tenth of the run where the RTT is unknown) is
//!   drawn as a marked break; a run with more than [`MAX_BURSTS`] bursts between breaks (the
//!   keepalive lab's 600 s) is drawn up to the end of that many, and says so;
//!   time is linear within every segment of the axis, and each segment says so
//!   (`<line class="axis-segment" data-t0-ms data-t1-ms>`);
//! - labels never overlap: one that cannot be placed is left out, and its packet keeps a
//!   `<title>` tooltip with the whole description.

mod draw;
mod layout;

/// What one scenario's packets did, as the ladder draws it.
#[derive(Clone, Debug, Default)]
pub struct Ladder {
    /// Makes the picture's ids unique in a page that inlines several (letters, digits, `-`).
    pub id: String,
    /// `handshake · fresh-tls13: Fresh HTTPS connection, TLS 1.3`.
    pub title: String,
    /// The path and where the frame numbers come from.
    pub subtitle: String,
    /// The client–server round trip, when the scenario has one.
    pub rtt_ms: Option<f64>,
    /// Host names; lane 0 is the vantage host (the client), whose capture numbers the frames.
    pub lanes: Vec<String>,
    pub packets: Vec<Packet>,
    pub brackets: Vec<Bracket>,
}

/// How a packet may be drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A packet with a name of its own (SYN, ClientHello, GET, a DNS query): always an arrow.
    Named,
    /// A data segment with nothing to name: may join a flight.
    Data,
    /// A pure acknowledgement: may join a flight of ACKs.
    Ack,
}

/// One packet: times in ms since the scenario began.
#[derive(Clone, Debug)]
pub struct Packet {
    /// Lane indices.
    pub from: usize,
    pub to: usize,
    pub sent_ms: f64,
    pub arrived_ms: Option<f64>,
    /// When it would have arrived (the path's delay after sending): a lost packet is drawn
    /// half way there.
    pub due_ms: f64,
    /// The rule that dropped it.
    pub lost: Option<String>,
    /// Its frame number in the vantage host's capture.
    pub frame: Option<u64>,
    /// A short label (`SYN`, `ClientHello`, `1460 B`).
    pub label: String,
    /// The whole description, for the tooltip.
    pub what: String,
    pub kind: Kind,
    /// Transport payload bytes.
    pub payload: usize,
}

impl Packet {
    /// Where the drawn arrow ends: its arrival, the point where it was lost, or (still in
    /// flight when the run ended) when it was due.
    fn end_ms(&self) -> f64 {
        match (self.arrived_ms, &self.lost) {
            (Some(a), _) => a,
            (None, Some(_)) => self.sent_ms + LOST_AT * (self.due_ms - self.sent_ms).max(0.0),
            (None, None) => self.due_ms.max(self.sent_ms),
        }
    }
}

/// A phase beside the client's lane.
#[derive(Clone, Debug)]
pub struct Bracket {
    pub label: String,
    pub start_ms: f64,
    /// `None`: the run stopped inside it.
    pub end_ms: Option<f64>,
    pub rtts: Option<f64>,
}

/// A lost packet is drawn this far towards its receiver.
const LOST_AT: f64 = 0.5;
const LANE_GAP: f64 = 250.0;
const TOP: f64 = 78.0;
const BREAK_PX: f64 = 36.0;
const ROW: f64 = 13.0;
const BRACKET_COL: f64 = 9.0;
/// Individual packet lines drawn at most (the flights still show every packet's bytes).
const MAX_ARROWS: usize = 4000;
const MAX_LABEL: usize = 54;
/// Bursts of activity (between breaks) drawn at most.
pub const MAX_BURSTS: usize = 8;

/// Renders the ladder as a standalone SVG document.
pub fn render(l: &Ladder) -> String {
    match window(l) {
        Ok((shown, blabels, cut)) => draw::draw(&shown, blabels, Some(cut)),
        Err(blabels) => draw::draw(l, blabels, None),
    }
}

/// The part of `l` drawn: everything, or the first [`MAX_BURSTS`] bursts; with each
/// bracket's label (its real duration, also where it is cut) and what was left out; or, when
/// all of it is drawn, just the labels.
fn window(l: &Ladder) -> Result<(Ladder, Vec<String>, String), Vec<String>> {
    let labels: Vec<String> = l.brackets.iter().map(layout::bracket_label).collect();
    let segs = layout::axis(l, 0).0;
    let active: Vec<&layout::Segment> = segs.iter().filter(|s| !s.broken).collect();
    let Some(last_shown) = active.get(MAX_BURSTS - 1).filter(|_| active.len() > MAX_BURSTS) else {
        return Err(labels);
    };
    let cut = last_shown.t1;
    let mut shown = Ladder {
        id: l.id.clone(),
        title: l.title.clone(),
        subtitle: l.subtitle.clone(),
        rtt_ms: l.rtt_ms,
        lanes: l.lanes.clone(),
        packets: l.packets.iter().filter(|p| p.sent_ms <= cut).cloned().collect(),
        brackets: Vec::new(),
    };
    let mut kept = Vec::new();
    shown.brackets = l
        .brackets
        .iter()
        .zip(labels)
        .filter(|(b, _)| b.start_ms <= cut)
        .map(|(b, label)| {
            kept.push(label);
            Bracket { end_ms: b.end_ms.map(|e| e.min(cut)), ..b.clone() }
        })
        .collect();
    let end = segs.last().map_or(cut, |s| s.t1);
    let note = format!(
        "drawn: the first {MAX_BURSTS} of {} bursts, up to {cut:.1} ms of {end:.1} ms ({} of {} packets); the capture holds them all",
        active.len(),
        shown.packets.len(),
        l.packets.len()
    );
    Ok((shown, kept, note))
}
