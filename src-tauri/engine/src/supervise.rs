//! No silent deaths: a panic in an actor or a task it spawned is caught, logged as an error, and
//! published as [`Event::EngineFault`] so the window can say so.
//!
//! Actors that loop over inputs guard each step with [`step`]: a panic while handling one input
//! is reported and the actor goes on with the next, its channels and state intact (that is its
//! restart). Fire-and-forget tasks are started with [`spawn`]. An actor that cannot be restarted
//! in place (it owns a device, a swarm) is started with [`spawn_essential`]: its panic is
//! reported as fatal, and the window asks for a restart.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use tokio::sync::broadcast;

use crate::api::Event;

/// Runs one step of `component`; `None` when it panicked (already reported).
pub async fn step<T>(
    component: &'static str,
    events: &broadcast::Sender<Event>,
    work: impl Future<Output = T>,
) -> Option<T> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(value) => Some(value),
        Err(panic) => {
            report(component, events, panic.as_ref(), false);
            None
        }
    }
}

/// Spawns `work` as a task of `component` whose panic is reported rather than lost.
pub fn spawn(
    component: &'static str,
    events: broadcast::Sender<Event>,
    work: impl Future<Output = ()> + Send + 'static,
) {
    tokio::spawn(async move {
        step(component, &events, work).await;
    });
}

/// Spawns the whole life of an actor that cannot be restarted in place; a panic is reported as
/// fatal.
pub fn spawn_essential(
    component: &'static str,
    events: broadcast::Sender<Event>,
    work: impl Future<Output = ()> + Send + 'static,
) {
    tokio::spawn(async move {
        if let Err(panic) = AssertUnwindSafe(work).catch_unwind().await {
            report(component, &events, panic.as_ref(), true);
        }
    });
}

fn report(
    component: &'static str,
    events: &broadcast::Sender<Event>,
    panic: &(dyn Any + Send),
    fatal: bool,
) {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "an unexpected error".to_string());
    if fatal {
        tracing::error!(component, %message, "a part of the engine panicked and stopped");
    } else {
        tracing::error!(component, %message, "a part of the engine panicked; it carries on");
    }
    let _ = events.send(Event::EngineFault {
        component: component.to_string(),
        message,
        fatal,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_step_is_reported_and_the_loop_goes_on() {
        let (events, mut seen) = broadcast::channel(8);
        let mut handled = Vec::new();
        for input in [1, 2, 3] {
            let result = step("test actor", &events, async {
                assert_ne!(input, 2, "input two is poison");
                input
            })
            .await;
            handled.extend(result);
        }
        assert_eq!(handled, vec![1, 3], "the actor went on after the panic");
        match seen.try_recv() {
            Ok(Event::EngineFault {
                component,
                message,
                fatal,
            }) => {
                assert!(!fatal, "the actor went on");
                assert_eq!(component, "test actor");
                assert!(message.contains("input two is poison"), "{message}");
            }
            other => panic!("expected an engine fault, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_panicking_task_is_reported() {
        let (events, mut seen) = broadcast::channel(8);
        spawn("test task", events.clone(), async { panic!("boom") });
        let event = tokio::time::timeout(std::time::Duration::from_secs(5), seen.recv())
            .await
            .expect("a report within 5 s")
            .expect("the channel open");
        assert_eq!(
            event,
            Event::EngineFault {
                component: "test task".into(),
                message: "boom".into(),
                fatal: false,
            }
        );
    }

    #[tokio::test]
    async fn an_essential_actor_that_panics_is_reported_as_fatal() {
        let (events, mut seen) = broadcast::channel(8);
        spawn_essential("test device", events.clone(), async { panic!("gone") });
        let event = tokio::time::timeout(std::time::Duration::from_secs(5), seen.recv())
            .await
            .expect("a report within 5 s")
            .expect("the channel open");
        assert!(
            matches!(event, Event::EngineFault { fatal: true, .. }),
            "{event:?}"
        );
    }
}
