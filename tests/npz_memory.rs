//! Memory of loading a small `.npz`: an image array followed by a long run of zeros in the same
//! (deflated) member must cost the array, not the zeros — numpy reads the promised bytes and
//! ignores the rest, and a browser tab must not inflate 600 MB to read 9 KB. Alone in its test
//! binary because it counts every allocation of the process.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use dermaebm::data::{Dataset, Limits};

/// The system allocator, keeping the bytes in use and their peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = IN_USE.fetch_add(bytes, Ordering::SeqCst) + bytes;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            grew(new_size - layout.size());
        } else {
            IN_USE.fetch_sub(layout.size() - new_size, Ordering::SeqCst);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn zeros_after_the_array_are_not_inflated() {
    // 4 RGB 28×28 images (9,408 bytes), then 128 MiB of zeros, deflated to a few hundred KB.
    const TRAILING: usize = 128 << 20;
    let pixels: Vec<u8> = (0..4 * 28 * 28 * 3).map(|i| (i % 251) as u8).collect();
    let array = common::npy("|u1", &[4, 28, 28, 3], &pixels, false, 1);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("train_images.npy", options).unwrap();
    zip.write_all(&array).unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..TRAILING / chunk.len() {
        zip.write_all(&chunk).unwrap();
    }
    let file = zip.finish().unwrap().into_inner();
    drop(chunk);
    assert!(file.len() < 2 << 20, "the file is small: {} bytes", file.len());

    let before = IN_USE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let dataset = Dataset::load(&[("small.npz", &file)], Limits::default()).expect("the array loads; numpy ignores trailing bytes");
    let peak = PEAK.load(Ordering::SeqCst) - before;

    assert_eq!(dataset.rows(dermaebm::data::Split::Train), 4);
    assert_eq!(dataset.rgba(dermaebm::data::Split::Train, 0).unwrap()[..3], pixels[..3]);
    // The array and the loader's working buffers, not the 128 MiB of zeros.
    assert!(peak < 16 << 20, "loading took {} MiB at its peak", peak >> 20);
}
