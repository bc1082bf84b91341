//! The mailbox every actor (lobby, room, replay, admin) reads its commands from.
//!
//! Ordinary commands (joins, client events) are bounded: when an actor has
//! `capacity` of them waiting, the next is refused with [`Overloaded`] and the client
//! gets an error reply, so a flood cannot bury the actor. *Leaves* are never refused:
//! losing one would leave a ghost in presence. They are still bounded — a socket can
//! only leave a channel it joined, and every join went through the bounded path — and
//! they travel in the same queue, so a leave is never overtaken by the join before it.
//! *Resync requests* are never refused either: losing one would leave a member that
//! fell behind without ticks. A socket has at most one outstanding per channel
//! (`outbound`), so they are bounded by the joins too.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

/// The actor has too many commands waiting; the client should retry later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("overloaded")]
pub struct Overloaded;

/// Sending side of a mailbox. Cheap to clone.
#[derive(Debug)]
pub struct Mailbox<C> {
    tx: mpsc::UnboundedSender<(bool, C)>,
    depth: Arc<AtomicUsize>,
    capacity: usize,
}

impl<C> Clone for Mailbox<C> {
    fn clone(&self) -> Self {
        Mailbox {
            tx: self.tx.clone(),
            depth: self.depth.clone(),
            capacity: self.capacity,
        }
    }
}

/// Receiving side of a mailbox, owned by the actor.
#[derive(Debug)]
pub struct MailboxReceiver<C> {
    rx: mpsc::UnboundedReceiver<(bool, C)>,
    depth: Arc<AtomicUsize>,
}

/// A mailbox that holds at most `capacity` ordinary commands.
pub fn mailbox<C>(capacity: usize) -> (Mailbox<C>, MailboxReceiver<C>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let depth = Arc::new(AtomicUsize::new(0));
    (
        Mailbox {
            tx,
            depth: depth.clone(),
            capacity,
        },
        MailboxReceiver { rx, depth },
    )
}

impl<C> Mailbox<C> {
    /// Sends an ordinary command, or refuses it when `capacity` are waiting.
    /// A stopped actor also answers [`Overloaded`]; the caller notices it is gone through
    /// [`Mailbox::is_closed`].
    pub fn try_send(&self, command: C) -> Result<(), Overloaded> {
        if self.depth.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.depth.fetch_sub(1, Ordering::AcqRel);
            return Err(Overloaded);
        }
        self.tx.send((true, command)).map_err(|_| {
            self.depth.fetch_sub(1, Ordering::AcqRel);
            Overloaded
        })
    }

    /// Sends a command that must not be lost (a leave). Returns false if the actor is gone.
    pub fn send_control(&self, command: C) -> bool {
        self.tx.send((false, command)).is_ok()
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Whether both senders feed the same actor incarnation.
    pub fn same_channel(&self, other: &Mailbox<C>) -> bool {
        self.tx.same_channel(&other.tx)
    }
}

impl<C> MailboxReceiver<C> {
    pub async fn recv(&mut self) -> Option<C> {
        let (counted, command) = self.rx.recv().await?;
        if counted {
            self.depth.fetch_sub(1, Ordering::AcqRel);
        }
        Some(command)
    }

    /// Takes a command if one is waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<C> {
        let (counted, command) = self.rx.try_recv().ok()?;
        if counted {
            self.depth.fetch_sub(1, Ordering::AcqRel);
        }
        Some(command)
    }

    /// Refuses new commands; those already queued can still be received.
    pub fn close(&mut self) {
        self.rx.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ordinary_commands_are_bounded_but_controls_are_not() {
        let (tx, mut rx) = mailbox::<u32>(2);
        assert_eq!(tx.try_send(1), Ok(()));
        assert_eq!(tx.try_send(2), Ok(()));
        assert_eq!(
            tx.try_send(3),
            Err(Overloaded),
            "third ordinary command refused"
        );
        assert!(tx.send_control(4), "a control always goes through");
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(tx.try_send(5), Ok(()), "room again after one was received");
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(4), "order is kept across kinds");
        assert_eq!(rx.recv().await, Some(5));
    }

    #[tokio::test]
    async fn a_dropped_receiver_refuses() {
        let (tx, rx) = mailbox::<u32>(2);
        drop(rx);
        assert_eq!(tx.try_send(1), Err(Overloaded));
        assert!(!tx.send_control(2));
        assert!(tx.is_closed());
    }
}
