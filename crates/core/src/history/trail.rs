//! The two shapes history is kept in: a `Trail` (an attribute's values, each
//! from the version that set it) and `Spans` (memberships, each an interval
//! of versions). Both answer "as of version v" by binary search or one scan
//! of the entity's own history, never by replaying the log.

use crate::ids::Version;
use rustc_hash::FxHashMap as HashMap;
use std::hash::Hash;

/// An attribute's values over time, oldest first: `(v, x)` means the value
/// is `x` from version `v` until the next entry.
#[derive(Clone, Debug)]
pub struct Trail<T>(Vec<(Version, T)>);

impl<T: PartialEq> Trail<T> {
    pub fn new(version: Version, value: T) -> Trail<T> {
        Trail(vec![(version, value)])
    }

    /// Record a value from `version` on; a value equal to the current one
    /// is not a change and is not kept.
    pub fn set(&mut self, version: Version, value: T) {
        if self.0.last().map(|(_, v)| v) != Some(&value) {
            self.0.push((version, value));
        }
    }

    /// The value as of `version`, or `None` before the first entry.
    pub fn at(&self, version: Version) -> Option<&T> {
        let idx = self.0.partition_point(|(v, _)| *v <= version);
        idx.checked_sub(1).map(|i| &self.0[i].1)
    }

    pub fn current(&self) -> &T {
        // A trail is never empty: it starts with the value its entity had.
        &self.0[self.0.len() - 1].1
    }

    /// Versions in `(after, up_to]` at which the value changed.
    pub fn changes_in(&self, after: Version, up_to: Version) -> impl Iterator<Item = Version> + '_ {
        self.0
            .iter()
            .map(|(v, _)| *v)
            .skip_while(move |v| *v <= after)
            .take_while(move |v| *v <= up_to)
    }
}

/// One membership: `id` belonged from version `from` up to, not including,
/// version `to` (`OPEN` while it lasts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span<T> {
    pub id: T,
    pub from: Version,
    pub to: Version,
}

pub const OPEN: Version = Version::MAX;

impl<T> Span<T> {
    pub fn covers(&self, version: Version) -> bool {
        self.from <= version && version < self.to
    }
}

/// Every membership one entity ever had on one side (a group's members, a
/// user's groups, …), with the open ones indexed so closing is O(1).
#[derive(Clone, Debug)]
pub struct Spans<T> {
    spans: Vec<Span<T>>,
    open: HashMap<T, usize>,
}

impl<T> Default for Spans<T> {
    fn default() -> Self {
        Spans {
            spans: Vec::new(),
            open: HashMap::default(),
        }
    }
}

impl<T: Copy + Eq + Hash> Spans<T> {
    /// Start a membership at `version`; already a member: nothing changes.
    pub fn open(&mut self, id: T, version: Version) -> bool {
        if self.open.contains_key(&id) {
            return false;
        }
        self.open.insert(id, self.spans.len());
        self.spans.push(Span {
            id,
            from: version,
            to: OPEN,
        });
        true
    }

    /// End a membership at `version`; not a member: nothing changes.
    pub fn close(&mut self, id: T, version: Version) -> bool {
        match self.open.remove(&id) {
            Some(idx) => {
                self.spans[idx].to = version;
                true
            }
            None => false,
        }
    }

    /// The ids of the memberships open now.
    pub fn current(&self) -> impl Iterator<Item = T> + '_ {
        self.open.keys().copied()
    }

    /// Members as of `version`, in the order they joined.
    pub fn at(&self, version: Version) -> impl Iterator<Item = T> + '_ {
        self.spans
            .iter()
            .filter(move |s| s.covers(version))
            .map(|s| s.id)
    }

    /// The ids whose membership began or ended in `(after, up_to]`, with
    /// repeats.
    pub fn changed_in(&self, after: Version, up_to: Version) -> impl Iterator<Item = T> + '_ {
        let inside = move |v: Version| v > after && v <= up_to;
        self.spans
            .iter()
            .filter(move |s| inside(s.from) || inside(s.to))
            .map(|s| s.id)
    }

    /// The memberships of `id`, oldest first.
    pub fn of(&self, id: T) -> impl Iterator<Item = &Span<T>> + '_ {
        self.spans.iter().filter(move |s| s.id == id)
    }
}
