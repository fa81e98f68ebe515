//! The simulator: endpoints joined by seeded links, driven in real time
//! (quiche reads the clock itself, so the simulator does too).

use std::any::Any;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use filo_core::{Endpoint, Event, RecvMeta};

use crate::link::{LinkConfig, Rng};

/// A callback seeing every transmit and its bytes.
pub type TransmitHook = Box<dyn FnMut(&filo_core::Transmit, &[u8])>;

/// Index of a node in [`Sim::nodes`].
pub type NodeId = usize;

/// Application logic attached to a node: it sees every event of the node's
/// endpoint as it is polled, and may issue commands.
pub trait NodeApp: Any {
    /// Handles one event.
    fn on_event(&mut self, ep: &mut Endpoint, ev: Event);
    /// Called once per simulator step, after the node's events.
    fn on_step(&mut self, _ep: &mut Endpoint) {}
}

/// One endpoint in the simulation.
pub struct Node {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Addresses datagrams to this node arrive on.
    pub addrs: Vec<SocketAddr>,
    /// Events, when no app is attached.
    pub events: VecDeque<Event>,
    app: Option<Box<dyn NodeApp>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("addrs", &self.addrs)
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

/// Counters of what the links did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Datagrams handed to a link.
    pub sent: u64,
    /// Datagrams delivered (duplicates counted).
    pub delivered: u64,
    /// Dropped by loss or MTU.
    pub lost: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Held back behind later datagrams.
    pub reordered: u64,
    /// Delivered with a flipped byte.
    pub corrupted: u64,
    /// Addressed to no node.
    pub unroutable: u64,
    /// GSO batches (transmits with more than one segment).
    pub gso_batches: u64,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Instant,
    order: u64,
    to_node: NodeId,
    dst: SocketAddr,
    src: SocketAddr,
    data: Vec<u8>,
}

/// Endpoints and the links between them.
pub struct Sim {
    /// The nodes, by [`NodeId`].
    pub nodes: Vec<Node>,
    /// Link used between nodes without a specific one.
    pub link: LinkConfig,
    links: HashMap<(NodeId, NodeId), LinkConfig>,
    rng: Rng,
    flight: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    buf: Vec<u8>,
    /// GSO segments per transmit asked of endpoints (1 = no batching).
    pub max_segments: usize,
    /// What the links did.
    pub stats: SimStats,
    /// Called with every transmit before the link sees it (checks, fuzzing).
    pub transmit_hook: Option<TransmitHook>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("nodes", &self.nodes)
            .field("link", &self.link)
            .field("in_flight", &self.flight.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// `drive_bounded` ran out of steps before the network went quiet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Livelock {
    /// Steps taken.
    pub steps: usize,
}

impl Sim {
    /// An empty simulation whose link decisions come from `seed`.
    pub fn new(seed: u64, link: LinkConfig) -> Self {
        Self {
            nodes: Vec::new(),
            link,
            links: HashMap::new(),
            rng: Rng::new(seed),
            flight: BinaryHeap::new(),
            seq: 0,
            buf: vec![0; 64 * 1500],
            max_segments: 16,
            stats: SimStats::default(),
            transmit_hook: None,
        }
    }

    /// Adds an endpoint reachable at `addr`.
    pub fn add_node(&mut self, endpoint: Endpoint, addr: SocketAddr) -> NodeId {
        self.nodes.push(Node {
            endpoint,
            addrs: vec![addr],
            events: VecDeque::new(),
            app: None,
        });
        self.nodes.len() - 1
    }

    /// Attaches application logic to a node (replacing any).
    pub fn set_app(&mut self, node: NodeId, app: impl NodeApp) {
        self.nodes[node].app = Some(Box::new(app));
    }

    /// The app of `node`, if it is a `T`.
    pub fn app<T: NodeApp>(&mut self, node: NodeId) -> Option<&mut T> {
        let app: &mut dyn Any = self.nodes[node].app.as_deref_mut()?;
        app.downcast_mut::<T>()
    }

    /// The app and endpoint of `node` together (for commands from tests).
    pub fn app_and_endpoint<T: NodeApp>(
        &mut self,
        node: NodeId,
    ) -> Option<(&mut T, &mut Endpoint)> {
        let n = &mut self.nodes[node];
        let app: &mut dyn Any = n.app.as_deref_mut()?;
        Some((app.downcast_mut::<T>()?, &mut n.endpoint))
    }

    /// Uses `link` for datagrams from `from` to `to`.
    pub fn set_link(&mut self, from: NodeId, to: NodeId, link: LinkConfig) {
        self.links.insert((from, to), link);
    }

    /// Datagrams still on the wire.
    pub fn in_flight(&self) -> usize {
        self.flight.len()
    }

    /// Drops everything on the wire (a blackhole moment).
    pub fn clear_flight(&mut self) {
        self.flight.clear();
    }

    fn node_for(&self, addr: SocketAddr) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.addrs.contains(&addr))
    }

    /// One round: drain every endpoint's transmits onto the links, deliver
    /// what is due, fire due timers, hand events to apps. Returns whether
    /// anything happened.
    pub fn step(&mut self, now: Instant) -> bool {
        let mut progress = false;
        for i in 0..self.nodes.len() {
            while let Some(t) =
                self.nodes[i]
                    .endpoint
                    .poll_transmit(now, &mut self.buf, self.max_segments)
            {
                progress = true;
                if let Some(hook) = self.transmit_hook.as_mut() {
                    hook(&t, &self.buf[..t.len]);
                }
                if t.segments() > 1 {
                    self.stats.gso_batches += 1;
                }
                let Some(dest) = self.node_for(t.to) else {
                    self.stats.unroutable += 1;
                    continue;
                };
                let link = self.links.get(&(i, dest)).unwrap_or(&self.link).clone();
                for seg in self.buf[..t.len].chunks(t.segment_size.max(1)) {
                    self.stats.sent += 1;
                    let fate = link.decide(&mut self.rng, seg.len());
                    if fate.copies == 0 {
                        self.stats.lost += 1;
                        continue;
                    }
                    if fate.reorder_by > 0 {
                        self.stats.reordered += 1;
                    }
                    for copy in 0..fate.copies {
                        let mut data = seg.to_vec();
                        if let (0, Some(at)) = (copy, fate.corrupt_at) {
                            data[at] ^= 0x5a;
                            self.stats.corrupted += 1;
                        }
                        if copy > 0 {
                            self.stats.duplicated += 1;
                        }
                        self.seq += 1;
                        let order = (self.seq + fate.reorder_by + u64::from(copy)) * 2
                            + u64::from(fate.reorder_by > 0);
                        self.flight.push(Reverse(InFlight {
                            at: now + fate.delay,
                            order,
                            to_node: dest,
                            dst: t.to,
                            src: t.from,
                            data,
                        }));
                    }
                }
            }
        }
        while self.flight.peek().is_some_and(|f| f.0.at <= now) {
            let Some(Reverse(mut f)) = self.flight.pop() else {
                break;
            };
            progress = true;
            self.stats.delivered += 1;
            self.nodes[f.to_node].endpoint.handle_datagram(
                now,
                RecvMeta::new(f.dst, f.src),
                &mut f.data,
            );
        }
        for n in &mut self.nodes {
            if n.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                n.endpoint.handle_timeout(now);
                progress = true;
            }
            while let Some(ev) = n.endpoint.poll_event() {
                progress = true;
                match n.app.as_mut() {
                    Some(app) => app.on_event(&mut n.endpoint, ev),
                    None => n.events.push_back(ev),
                }
            }
            if let Some(app) = n.app.as_mut() {
                app.on_step(&mut n.endpoint);
            }
        }
        progress
    }

    /// The next instant something is scheduled (a delivery or a timer).
    pub fn next_wakeup(&self) -> Option<Instant> {
        let timers = self.nodes.iter().filter_map(|n| n.endpoint.poll_timeout());
        let flight = self.flight.peek().map(|f| f.0.at);
        timers.chain(flight).min()
    }

    /// Steps until nothing happens and nothing is on the wire, at most
    /// `max_steps` times. Pending timers (idle, loss recovery) do not
    /// count as activity: use [`run_until`](Self::run_until) to wait on them.
    pub fn drive_bounded(&mut self, max_steps: usize) -> Result<usize, Livelock> {
        for steps in 0..max_steps {
            let now = Instant::now();
            let progress = self.step(now);
            if !progress {
                match self.flight.peek() {
                    None => return Ok(steps),
                    Some(f) => sleep_until(f.0.at),
                }
            }
        }
        Err(Livelock { steps: max_steps })
    }

    /// [`drive_bounded`](Self::drive_bounded) with a generous bound;
    /// panics on livelock.
    pub fn drive(&mut self) {
        if let Err(e) = self.drive_bounded(100_000) {
            panic!("simulation did not go quiet: {e:?}");
        }
    }

    /// Steps in real time (sleeping until the next delivery or timer) until
    /// `done` holds or `limit` of wall time passes. Returns whether `done`
    /// held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Sim) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let now = Instant::now();
            let progress = self.step(now);
            if done(self) {
                return true;
            }
            if now >= deadline {
                return false;
            }
            if !progress {
                let wake = self.next_wakeup().map_or(deadline, |w| w.min(deadline));
                sleep_until(wake);
            }
        }
    }

    /// Runs for `d` of wall time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(d, |_| false);
    }
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep((t - now).min(Duration::from_millis(50)));
    }
}
