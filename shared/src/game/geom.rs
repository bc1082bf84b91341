//! Exact integer geometry for capsules (a segment swept by a circle), the shape a canvas
//! draws for a round-capped line. Shared by the server's collision step and the client
//! arena's `is_free`, so "what you see is what kills you" holds bit for bit.
//!
//! All coordinates are wire units (see [`super::POS_SCALE`]); every comparison is done in
//! `i64` / `i128` without division, so the answer never depends on float rounding.

/// A point in wire units (1/[`super::POS_SCALE`] px), `[x, y]`.
pub type Pt = [i32; 2];

fn sub(a: Pt, b: Pt) -> [i64; 2] {
    [a[0] as i64 - b[0] as i64, a[1] as i64 - b[1] as i64]
}

fn dot(a: [i64; 2], b: [i64; 2]) -> i64 {
    a[0] * b[0] + a[1] * b[1]
}

fn cross(a: [i64; 2], b: [i64; 2]) -> i64 {
    a[0] * b[1] - a[1] * b[0]
}

/// Squared distance between two points.
pub fn dist2(a: Pt, b: Pt) -> i64 {
    let d = sub(a, b);
    dot(d, d)
}

/// Whether point `p` lies strictly closer than `r` to the segment `a..b`.
pub fn point_seg_within(p: Pt, a: Pt, b: Pt, r: i64) -> bool {
    let ab = sub(b, a);
    let ap = sub(p, a);
    let len2 = dot(ab, ab);
    let t = dot(ap, ab);
    if len2 == 0 || t <= 0 {
        return dot(ap, ap) < r * r;
    }
    if t >= len2 {
        let bp = sub(p, b);
        return dot(bp, bp) < r * r;
    }
    let c = cross(ab, ap) as i128;
    c * c < (r as i128) * (r as i128) * (len2 as i128)
}

fn orient(a: Pt, b: Pt, c: Pt) -> i64 {
    cross(sub(b, a), sub(c, a)).signum()
}

fn on_segment(a: Pt, b: Pt, p: Pt) -> bool {
    p[0] >= a[0].min(b[0])
        && p[0] <= a[0].max(b[0])
        && p[1] >= a[1].min(b[1])
        && p[1] <= a[1].max(b[1])
}

/// Whether segments `a..b` and `c..d` intersect (touching counts).
pub fn segments_intersect(a: Pt, b: Pt, c: Pt, d: Pt) -> bool {
    let (o1, o2, o3, o4) = (
        orient(a, b, c),
        orient(a, b, d),
        orient(c, d, a),
        orient(c, d, b),
    );
    if o1 != o2 && o3 != o4 && o1 != 0 && o2 != 0 && o3 != 0 && o4 != 0 {
        return true;
    }
    (o1 == 0 && on_segment(a, b, c))
        || (o2 == 0 && on_segment(a, b, d))
        || (o3 == 0 && on_segment(c, d, a))
        || (o4 == 0 && on_segment(c, d, b))
        || (o1 != o2 && o3 != o4)
}

/// Whether the segments `a..b` and `c..d` come strictly closer than `r`: two capsules of
/// radii `r1`, `r2` overlap exactly when this holds for `r = r1 + r2`.
pub fn seg_seg_within(a: Pt, b: Pt, c: Pt, d: Pt, r: i64) -> bool {
    if r > 0 && segments_intersect(a, b, c, d) {
        return true;
    }
    point_seg_within(a, c, d, r)
        || point_seg_within(b, c, d, r)
        || point_seg_within(c, a, b, r)
        || point_seg_within(d, a, b, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_segment_distance_is_exact() {
        // Distance from (5, 3) to the x axis segment is exactly 3.
        assert!(
            !point_seg_within([5, 3], [0, 0], [10, 0], 3),
            "distance 3 is not < 3"
        );
        assert!(
            point_seg_within([5, 3], [0, 0], [10, 0], 4),
            "distance 3 is < 4"
        );
        // Beyond the end the distance is to the end point: (13, 4) is 5 from (10, 0).
        assert!(
            !point_seg_within([13, 4], [0, 0], [10, 0], 5),
            "end cap distance 5"
        );
        assert!(
            point_seg_within([13, 4], [0, 0], [10, 0], 6),
            "end cap distance 5 < 6"
        );
    }

    #[test]
    fn crossing_segments_touch_at_any_radius() {
        assert!(
            seg_seg_within([0, -10], [0, 10], [-10, 0], [10, 0], 1),
            "a cross intersects"
        );
        assert!(
            !seg_seg_within([0, 0], [10, 0], [0, 5], [10, 5], 5),
            "parallel at 5 is not < 5"
        );
        assert!(
            seg_seg_within([0, 0], [10, 0], [0, 5], [10, 5], 6),
            "parallel at 5 is < 6"
        );
        assert!(
            seg_seg_within([0, 0], [10, 0], [5, 0], [20, 0], 1),
            "collinear overlap"
        );
    }
}
