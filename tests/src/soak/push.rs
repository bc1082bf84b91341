//! How a steering bot plays Bumper: keep to the middle of the floe, drive at the nearest
//! disc, dash into it when close. The decision reads a [`Board`] (the snapshot plus
//! every tick), never the server's rules beyond the floe's centre and radius.

use kurve_shared::bumper::{Board, BoardPlayer, POS_SCALE};

/// Past this share of the floe's radius from the centre, a bot drives back inwards.
const EDGE_SHARE: f64 = 0.6;

/// A dash is tried when the nearest disc is this close, px (centre to centre).
const DASH_RANGE_PX: f64 = 70.0;

/// What a Bumper bot sends: `{"move": [x, y], "dash"?: true}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Push {
    pub to: [i32; 2],
    pub dash: bool,
}

impl Push {
    /// The `input` payload, numbered `seq`.
    pub fn payload(&self, seq: u32) -> String {
        let dash = if self.dash { r#","dash":true"# } else { "" };
        format!(
            r#"{{"move":[{},{}]{dash},"seq":{seq}}}"#,
            self.to[0], self.to[1]
        )
    }
}

/// A vector of length 100 (the input's scale) along `(dx, dy)`; zero for a zero vector.
fn unit(dx: f64, dy: f64) -> [i32; 2] {
    let len = dx.hypot(dy);
    if len < 1e-9 {
        return [0, 0];
    }
    [
        (dx * 100.0 / len).round() as i32,
        (dy * 100.0 / len).round() as i32,
    ]
}

/// The nearest other disc on the floe.
fn nearest<'a>(board: &'a Board, me: &BoardPlayer) -> Option<(&'a BoardPlayer, f64)> {
    board
        .players
        .iter()
        .filter(|p| p.seat != me.seat && p.alive)
        .map(|p| (p, f64::from(p.x - me.x).hypot(f64::from(p.y - me.y))))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// What the disc in `seat` does now, on a floe centred at `centre` (wire units); `None`
/// when it is not on the floe. `roll` is a random number: it decides whether a dash in
/// range is tried (one in four), so bots do not all dash at once.
pub fn choose(board: &Board, seat: u8, centre: [i32; 2], roll: u64) -> Option<Push> {
    let me = board.player(seat).filter(|p| p.alive)?;
    let (cx, cy) = (f64::from(centre[0] - me.x), f64::from(centre[1] - me.y));
    let from_centre = cx.hypot(cy);
    if from_centre > EDGE_SHARE * f64::from(board.floe_r) {
        return Some(Push {
            to: unit(cx, cy),
            dash: false,
        });
    }
    let Some((other, distance)) = nearest(board, me) else {
        return Some(Push {
            to: unit(cx, cy),
            dash: false,
        });
    };
    let to = unit(f64::from(other.x - me.x), f64::from(other.y - me.y));
    let in_range = distance < DASH_RANGE_PX * f64::from(POS_SCALE);
    Some(Push {
        to,
        dash: in_range && roll.is_multiple_of(4),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kurve_shared::bumper::Phase;

    fn disc(seat: u8, x: i32, y: i32) -> BoardPlayer {
        BoardPlayer {
            seat,
            id: format!("u{seat}"),
            name: format!("P{seat}"),
            points: 0,
            falls: 0,
            ready: true,
            connected: true,
            alive: true,
            x,
            y,
            vx: 0,
            vy: 0,
            ack: None,
        }
    }

    fn board(players: Vec<BoardPlayer>) -> Board {
        Board {
            tick: 10,
            phase: Phase::Playing,
            phase_ends_at: None,
            match_ends_at: None,
            target: 10,
            floe_r: 360 * POS_SCALE,
            players,
        }
    }

    const C: [i32; 2] = [512 * POS_SCALE, 384 * POS_SCALE];

    #[test]
    fn a_bot_drives_at_the_nearest_disc_and_dashes_in_range() {
        let b = board(vec![
            disc(0, C[0], C[1]),
            disc(1, C[0] + 50 * POS_SCALE, C[1]),
            disc(2, C[0], C[1] - 200 * POS_SCALE),
        ]);
        let push = choose(&b, 0, C, 4).expect("on the floe");
        assert_eq!(push.to, [100, 0], "towards seat 1, the nearest");
        assert!(push.dash, "50 px away: in range, and the roll says dash");
        assert!(!choose(&b, 0, C, 5).unwrap().dash, "the roll says not now");
        let far = choose(&b, 2, C, 4).unwrap();
        assert_eq!(far.to, [0, 100], "seat 2 drives down at seat 0");
        assert!(!far.dash, "200 px: out of range");
    }

    #[test]
    fn a_bot_near_the_edge_drives_back_to_the_middle() {
        let b = board(vec![
            disc(0, C[0] - 300 * POS_SCALE, C[1]),
            disc(1, C[0] - 320 * POS_SCALE, C[1]),
        ]);
        let push = choose(&b, 0, C, 4).unwrap();
        assert_eq!(
            push,
            Push {
                to: [100, 0],
                dash: false
            }
        );
        let mut fallen = b.clone();
        fallen.players[0].alive = false;
        assert_eq!(
            choose(&fallen, 0, C, 4),
            None,
            "off the floe: nothing to do"
        );
    }

    #[test]
    fn a_push_is_the_input_the_server_reads() {
        let push = Push {
            to: [71, -71],
            dash: true,
        };
        assert_eq!(push.payload(7), r#"{"move":[71,-71],"dash":true,"seq":7}"#);
        let calm = Push {
            to: [0, 0],
            dash: false,
        };
        assert_eq!(calm.payload(8), r#"{"move":[0,0],"seq":8}"#);
    }
}
