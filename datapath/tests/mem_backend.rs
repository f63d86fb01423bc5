//! The forwarding loop over the in-memory backend: deterministic, no root needed.

mod common;

use datapath::{
    io::{Backend, Batch, IoMode, BURST},
    mem::MemBackend,
};

#[test]
fn forwards_both_ways_in_bursts_and_leaks_nothing() {
    let mut b = MemBackend::new(2, 256);
    assert_eq!(b.mode(), IoMode::Memory);
    let n = BURST + 5; // more than one burst
    for i in 0..n {
        assert!(b.inject(0, &[0xa0, i as u8]));
        assert!(b.inject(1, &[0xb0, i as u8, 0xff]));
    }
    let mut batch = Batch::new();
    let mut moved = 0;
    while b.pending_rx(0) + b.pending_rx(1) > 0 {
        moved += common::forward_step(&mut b, &mut batch);
    }
    assert_eq!(moved, 2 * n);
    let to_b = b.take_sent(1);
    let to_a = b.take_sent(0);
    assert_eq!(to_b.len(), n);
    assert_eq!(to_a.len(), n);
    for (i, (pb, pa)) in to_b.iter().zip(&to_a).enumerate() {
        assert_eq!(pb, &vec![0xa0, i as u8], "order kept port 0 -> 1");
        assert_eq!(pa, &vec![0xb0, i as u8, 0xff], "order kept port 1 -> 0");
    }
    assert_eq!(b.in_flight(), 0);
    assert_eq!(b.stats(0).rx_packets, n as u64);
    assert_eq!(b.stats(1).tx_packets, n as u64);
    assert_eq!(b.stats(0).tx_bytes, 3 * n as u64);
}

#[test]
fn clone_for_multi_output_and_pcap() {
    let mut b = MemBackend::new(3, 8);
    b.inject(0, b"flood me");
    let mut batch = Batch::new();
    assert_eq!(b.rx_burst(0, &mut batch), 1);
    let copy = b.clone_frame(&batch.frames()[0]).expect("free frames");
    let mut second = Batch::new();
    assert!(second.push(copy).is_ok());
    assert_eq!(b.tx_burst(1, &mut batch), 1);
    assert_eq!(b.tx_burst(2, &mut second), 1);
    assert_eq!(b.in_flight(), 0);
    let dir = std::env::temp_dir().join(format!("southpaw-mem-{}.pcap", std::process::id()));
    b.write_pcap(2, &dir).expect("write pcap");
    let bytes = std::fs::read(&dir).expect("read pcap");
    let _ = std::fs::remove_file(&dir);
    assert!(bytes.ends_with(b"flood me"));
    assert_eq!(b.take_sent(1), vec![b"flood me".to_vec()]);
}

#[test]
fn frames_of_another_backend_are_refused() {
    let mut a = MemBackend::new(1, 2);
    let mut b = MemBackend::new(1, 2);
    let f = a.alloc().expect("frame");
    let mut batch = Batch::new();
    assert!(batch.push(f).is_ok());
    assert_eq!(b.tx_burst(0, &mut batch), 0);
    assert_eq!(b.stats(0).tx_dropped, 1);
    assert_eq!(b.in_flight(), 0);
}
