// Words the views share: a room phase's label, and the human text for a refusal's
// `reason` (docs/PROTOCOL.md lists the reasons). The lobby, the room and the replay
// all show them.

export const PHASE_LABEL: Record<string, string> = {
  waiting: "Waiting",
  countdown: "Starting",
  playing: "Playing",
  round_over: "Playing",
  finished: "Finished",
};

/** Human text for a room or lobby error reason. */
export function reasonText(reason: string | undefined): string {
  switch (reason) {
    case "not_found":
      return "That room does not exist any more.";
    case "room_full":
      return "That room is full — you can still watch.";
    case "already_started":
      return "That match has already started — watch it, or join the next one.";
    case "wrong_password":
      return "Wrong room password.";
    case "invalid_room":
      return "Check the room settings: a name up to 32 characters, 2–8 players, and a password of at most 64 characters.";
    case "invalid_body":
      return "Messages are 1–280 characters.";
    case "rate_limited":
      return "Slow down — too many requests in a row. Try again in a moment.";
    case "too_many_rooms":
      return "You already have 3 open rooms — play in one of them, or wait until one closes.";
    case "too_many_channels":
      return "Too many lobbies and rooms open in this tab.";
    case "already_seated":
      return "You already have a seat in that room (in another tab).";
    case "bad_payload":
      return "The server could not read that request.";
    case "unauthorized":
      return "Your session is no longer valid.";
    default:
      return reason ? `Request refused (${reason}).` : "The server did not answer. Try again.";
  }
}
