//! A uniform spatial grid of trail segments, so a collision query looks only at the
//! cells around a head: its cost does not grow with the total trail length.

use super::geom::{Pt, seg_seg_within};

/// One drawn trail segment: a capsule from `a` to `b` with radius `r` (wire units).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    /// Start point.
    pub a: Pt,
    /// End point.
    pub b: Pt,
    /// Line radius when the segment was drawn.
    pub r: i32,
    /// Seat of the player who drew it.
    pub seat: u8,
    /// The owner's arc length (distance travelled this round, in wire units) at `b`;
    /// used for the own-trail immunity behind a head.
    pub arc: i64,
}

/// Segments bucketed by the cells their capsule's bounding box covers.
///
/// **Invariant:** a capsule is listed in every cell its bounding box (grown by its radius)
/// touches, and a query visits every cell its own grown box touches, so two capsules that
/// overlap always share a visited cell. Cells keep ids in insertion order; queries return
/// the smallest id that hits, so results never depend on iteration order.
///
/// The cells are allocated on the first insert and given back by [`SegmentGrid::clear`]:
/// a grid with no segments (a room waiting for players) costs a few words, not one
/// vector per cell.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SegmentGrid {
    cell: i32,
    cols: i32,
    rows: i32,
    cells: Vec<Vec<u32>>,
    segs: Vec<Segment>,
}

impl SegmentGrid {
    /// A grid over a `w` × `h` area (wire units) with square cells of side `cell`.
    pub fn new(w: i32, h: i32, cell: i32) -> Self {
        let cell = cell.max(1);
        let cols = (w / cell + 1).max(1);
        let rows = (h / cell + 1).max(1);
        Self {
            cell,
            cols,
            rows,
            cells: Vec::new(),
            segs: Vec::new(),
        }
    }

    /// Every stored segment, by id (insertion order).
    pub fn segments(&self) -> &[Segment] {
        &self.segs
    }

    /// Removes every segment (a `clear_all` item or a new round).
    pub fn clear(&mut self) {
        self.cells = Vec::new();
        self.segs = Vec::new();
    }

    fn cell_range(&self, a: Pt, b: Pt, r: i32) -> (i32, i32, i32, i32) {
        let clamp_x = |v: i32| (v.div_euclid(self.cell)).clamp(0, self.cols - 1);
        let clamp_y = |v: i32| (v.div_euclid(self.cell)).clamp(0, self.rows - 1);
        (
            clamp_x(a[0].min(b[0]).saturating_sub(r)),
            clamp_x(a[0].max(b[0]).saturating_add(r)),
            clamp_y(a[1].min(b[1]).saturating_sub(r)),
            clamp_y(a[1].max(b[1]).saturating_add(r)),
        )
    }

    /// Adds a segment and returns its id.
    pub fn insert(&mut self, seg: Segment) -> u32 {
        let id = self.segs.len() as u32;
        if self.cells.is_empty() {
            self.cells = vec![Vec::new(); (self.cols * self.rows) as usize];
        }
        let (x0, x1, y0, y1) = self.cell_range(seg.a, seg.b, seg.r);
        for y in y0..=y1 {
            for x in x0..=x1 {
                self.cells[(y * self.cols + x) as usize].push(id);
            }
        }
        self.segs.push(seg);
        id
    }

    /// The smallest id of a segment whose capsule overlaps the capsule `a..b` of radius
    /// `r`, ignoring segments for which `skip` returns true.
    pub fn first_hit(
        &self,
        a: Pt,
        b: Pt,
        r: i32,
        mut skip: impl FnMut(&Segment) -> bool,
    ) -> Option<u32> {
        if self.segs.is_empty() {
            return None;
        }
        let (x0, x1, y0, y1) = self.cell_range(a, b, r);
        let mut best: Option<u32> = None;
        for y in y0..=y1 {
            for x in x0..=x1 {
                for &id in &self.cells[(y * self.cols + x) as usize] {
                    if best.is_some_and(|b| b <= id) {
                        continue;
                    }
                    let s = &self.segs[id as usize];
                    if skip(s) {
                        continue;
                    }
                    if seg_seg_within(a, b, s.a, s.b, r as i64 + s.r as i64) {
                        best = Some(id);
                    }
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(a: Pt, b: Pt, seat: u8) -> Segment {
        Segment {
            a,
            b,
            r: 96,
            seat,
            arc: 0,
        }
    }

    #[test]
    fn finds_only_overlapping_segments() {
        let mut g = SegmentGrid::new(32768, 24576, 512);
        g.insert(seg([1000, 1000], [1048, 1000], 0));
        g.insert(seg([20000, 20000], [20048, 20000], 1));
        assert_eq!(
            g.first_hit([1000, 1150], [1000, 1150], 96, |_| false),
            Some(0),
            "150 < 96+96"
        );
        assert_eq!(
            g.first_hit([1000, 1200], [1000, 1200], 96, |_| false),
            None,
            "200 >= 192"
        );
        assert_eq!(
            g.first_hit([1000, 1150], [1000, 1150], 96, |s| s.seat == 0),
            None,
            "skipped"
        );
        g.clear();
        assert_eq!(
            g.first_hit([1000, 1150], [1000, 1150], 96, |_| false),
            None,
            "cleared"
        );
    }

    #[test]
    fn returns_smallest_id_among_hits() {
        let mut g = SegmentGrid::new(32768, 24576, 512);
        g.insert(seg([5000, 0], [5000, 100], 0));
        g.insert(seg([0, 5000], [100, 5000], 1));
        g.insert(seg([0, 5000], [100, 5000], 2));
        assert_eq!(
            g.first_hit([50, 4990], [50, 5010], 10, |_| false),
            Some(1),
            "oldest hit wins"
        );
    }
}
