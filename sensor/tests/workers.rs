//! The same capture replayed with one and with two workers gives the same
//! set of events: sharding by client keeps every flow (and a client's DNS)
//! on one worker, and flows expire on packet-time ticks sent to all workers.

mod common;

use common::*;

fn same_events(inputs: &[String]) -> usize {
    let mut one = replay_lines_with(inputs, true, Some(1));
    let mut two = replay_lines_with(inputs, true, Some(2));
    one.sort();
    two.sort();
    assert_eq!(one.len(), two.len(), "event counts differ");
    for (a, b) in one.iter().zip(&two) {
        assert_eq!(a, b);
    }
    one.len()
}

#[test]
fn one_and_two_workers_agree_on_the_client_corpus() {
    let mut inputs = vec![pcap("sample.pcap")];
    inputs.push(pcap("clients"));
    let n = same_events(&inputs);
    assert!(n > 1000, "only {n} events");
}

#[test]
fn one_and_two_workers_agree_on_a_six_hour_timeline() {
    let Some(shared) = shared() else {
        return;
    };
    let tl = shared.join("corpus/timelines/dev_edge_cases_6h.pcap");
    let n = same_events(&[tl.to_string_lossy().into_owned()]);
    assert!(n > 500, "only {n} events");
}
