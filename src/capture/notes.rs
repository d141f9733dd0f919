//! The notes analyses add to frames, held as runs of frames that have the same notes.
//!
//! An analysis may note every frame of a long response (its slow-start round), a million for a
//! 1 GB transfer; neighbouring frames mostly carry the same notes, so a run of frames with one
//! list of notes is one record however long it is, and each distinct list is kept once. A
//! frame's notes stay in the order they were added.

use std::collections::HashMap;

use super::Note;

/// Frames `first..=last` all have the notes `lists[list]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    first: u64,
    last: u64,
    list: u32,
}

/// Notes by frame.
#[derive(Debug, Default)]
pub struct Notes {
    /// Sorted by frame, not overlapping, neighbours with the same list merged.
    runs: Vec<Run>,
    lists: Vec<Vec<Note>>,
    index: HashMap<Vec<Note>, u32>,
}

impl Notes {
    /// The notes of `frame`, in the order added.
    #[cfg(test)]
    pub fn get(&self, frame: u64) -> &[Note] {
        let i = self.runs.partition_point(|r| r.last < frame);
        match self.runs.get(i) {
            Some(r) if r.first <= frame => &self.lists[r.list as usize],
            _ => &[],
        }
    }

    /// Frames from the `at`-th run on, for an iteration in frame order: the run that holds
    /// `frame`, if any, and the index to start the next lookup from.
    pub fn get_from(&self, mut at: usize, frame: u64) -> (&[Note], usize) {
        while self.runs.get(at).is_some_and(|r| r.last < frame) {
            at += 1;
        }
        match self.runs.get(at) {
            Some(r) if r.first <= frame => (&self.lists[r.list as usize], at),
            _ => (&[], at),
        }
    }

    fn intern(&mut self, list: Vec<Note>) -> u32 {
        if let Some(&i) = self.index.get(&list) {
            return i;
        }
        let i = self.lists.len() as u32;
        self.lists.push(list.clone());
        self.index.insert(list, i);
        i
    }

    /// Adds `note` after `frame`'s notes.
    pub fn add(&mut self, frame: u64, note: Note) {
        let i = self.runs.partition_point(|r| r.last < frame);
        let covering = self.runs.get(i).copied().filter(|r| r.first <= frame);
        let mut list = covering.map(|r| self.lists[r.list as usize].clone()).unwrap_or_default();
        list.push(note);
        let list = self.intern(list);
        let one = Run { first: frame, last: frame, list };
        let at = match covering {
            None => {
                self.runs.insert(i, one);
                i
            }
            Some(r) => {
                // Split the run around the frame.
                let mut parts = Vec::with_capacity(3);
                if r.first < frame {
                    parts.push(Run { last: frame - 1, ..r });
                }
                let at = i + parts.len();
                parts.push(one);
                if frame < r.last {
                    parts.push(Run { first: frame + 1, ..r });
                }
                self.runs.splice(i..=i, parts);
                at
            }
        };
        // Merge with the next, then the previous run, where they touch and carry the same list.
        if let Some(next) = self.runs.get(at + 1).copied() {
            if next.first == frame + 1 && next.list == list {
                self.runs[at].last = next.last;
                self.runs.remove(at + 1);
            }
        }
        if let Some(prev) = at.checked_sub(1).map(|p| self.runs[p]) {
            if prev.last + 1 == frame && prev.list == list {
                self.runs[at - 1].last = self.runs[at].last;
                self.runs.remove(at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// What the notes were before runs: a list per frame.
    fn plain(adds: &[(u64, Note)]) -> BTreeMap<u64, Vec<Note>> {
        let mut m: BTreeMap<u64, Vec<Note>> = BTreeMap::new();
        for (f, n) in adds {
            m.entry(*f).or_default().push(n.clone());
        }
        m
    }

    #[test]
    fn runs_give_each_frame_its_notes_in_the_order_added() {
        let round = |r: u32| Note::Label(format!(", slow start round {r}"));
        let mut adds: Vec<(u64, Note)> = Vec::new();
        for f in 10..=40 {
            adds.push((f, round(if f < 25 { 1 } else { 2 })));
        }
        adds.push((12, Note::After(" [late]".into())));
        adds.push((3, Note::Before("LOST".into())));
        adds.push((25, Note::Before("first".into())));
        adds.push((40, Note::After(" [end]".into())));
        adds.push((41, round(2)));
        adds.push((12, round(9)));
        adds.push((24, round(2)));
        let mut notes = Notes::default();
        for (f, n) in &adds {
            notes.add(*f, n.clone());
        }
        let want = plain(&adds);
        let mut at = 0;
        for f in 0..=45 {
            let expected = want.get(&f).map_or(&[][..], Vec::as_slice);
            assert_eq!(notes.get(f), expected, "frame {f}");
            let (got, next) = notes.get_from(at, f);
            assert_eq!(got, expected, "frame {f}, in order");
            at = next;
        }
        // 31 frames of two rounds, a few exceptions: a handful of runs, not one per frame.
        assert!(notes.runs.len() <= 12, "{:?}", notes.runs);
        assert!(notes.runs.windows(2).all(|w| w[0].last < w[1].first));
    }
}
