//! Issue 18's batch benchmark: the same 10,000 queries (k = 10) answered in process on one
//! thread (`Vexfs::search_lines`, one query at a time: parse, search, answer lines) and through a
//! mount in batches of 100 (one open, write, reads and close per batch), as queries per second;
//! then the same with `"include":["vector","size","mtime"]` on every query (both sides).
//!
//! `cargo run -p vexfs-fuse --example batch_bench -- [FILES] [DIM] [QUERIES] [BATCH]` as root
//! with /dev/fuse (defaults 20000 128 10000 100). The image lives in a fresh temporary directory.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::io::{Read, Write};
use std::time::Instant;
use vexfs::{FileUpsert, IndexConfig, Scratch, Vexfs, vector::ElemType};
use vexfs_fuse::MountOptions;

fn splitmix(s: &mut u64) -> f32 {
    *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32 - 0.5
}

fn main() {
    let arg = |i: usize, d: usize| std::env::args().nth(i).map_or(d, |a| a.parse().unwrap());
    let (files, dim, queries, batch) = (arg(1, 20_000), arg(2, 128), arg(3, 10_000), arg(4, 100));
    let dir = std::env::temp_dir().join(format!("vexfs-batch-bench-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("mnt")).unwrap();
    let image = dir.join("image.vexfs");
    let mut seed = 18u64;
    {
        let mut fs = Vexfs::create(&image).unwrap();
        fs.create_dir("/c").unwrap();
        fs.create_collection("/c", &IndexConfig::new(dim as u32, ElemType::F32))
            .unwrap();
        let names: Vec<Vec<u8>> = (0..files).map(|i| format!("f{i:06}").into_bytes()).collect();
        let vecs: Vec<Vec<u8>> = (0..files)
            .map(|_| (0..dim).flat_map(|_| splitmix(&mut seed).to_le_bytes()).collect())
            .collect();
        for chunk in (0..files).collect::<Vec<_>>().chunks(1000) {
            let items: Vec<FileUpsert<'_>> = chunk
                .iter()
                .map(|&i| FileUpsert {
                    name: &names[i],
                    vector: Some(&vecs[i]),
                    ..FileUpsert::default()
                })
                .collect();
            fs.upsert_files("/c", &items).unwrap();
        }
        fs.close().unwrap();
    }
    for extra in ["", r#","include":["vector","size","mtime"]"#] {
        let qs: Vec<String> = (0..queries)
            .map(|_| {
                let v: Vec<String> = (0..dim).map(|_| format!("{:.6}", splitmix(&mut seed))).collect();
                format!(r#"{{"dir":"/c","vector":[{}],"k":10{extra}}}"#, v.join(","))
            })
            .collect();

        // In process, one thread, one query at a time.
        let fs = Vexfs::open(&image).unwrap();
        let mut scratch = Scratch::new();
        for q in &qs[..200.min(queries)] {
            fs.search_lines(q, &mut scratch).unwrap();
        }
        let t = Instant::now();
        let mut lines = 0;
        for q in &qs {
            lines += fs
                .search_lines(q, &mut scratch)
                .unwrap()
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
        }
        let in_process = queries as f64 / t.elapsed().as_secs_f64();
        assert_eq!(lines, 10 * queries);
        fs.close().unwrap();

        // Through the mount, in batches.
        let m = vexfs_fuse::spawn(&image, &dir.join("mnt"), &MountOptions::default()).unwrap();
        let search = dir.join("mnt/.vexfs/search");
        let batches: Vec<String> = qs.chunks(batch).map(|c| format!("[{}]", c.join(","))).collect();
        let run = |bs: &[String]| {
            let mut n = 0;
            let mut buf = Vec::new();
            for b in bs {
                let mut f = std::fs::File::options()
                    .read(true)
                    .write(true)
                    .open(&search)
                    .unwrap();
                f.write_all(b.as_bytes()).unwrap();
                buf.clear();
                f.read_to_end(&mut buf).unwrap();
                n += buf.iter().filter(|&&c| c == b'\n').count();
            }
            n
        };
        run(&batches[..2.min(batches.len())]);
        let t = Instant::now();
        let lines = run(&batches);
        let mounted = queries as f64 / t.elapsed().as_secs_f64();
        assert_eq!(lines, 10 * queries);
        let t = Instant::now();
        let single = qs.len().min(1000);
        assert_eq!(run(&qs[..single]), 10 * single);
        let one_by_one = single as f64 / t.elapsed().as_secs_f64();
        m.unmount().unwrap();
        println!(
            "{files} files, dim {dim}, {queries} queries, k=10: in process {in_process:.0} q/s; mount, \
             batches of {batch}: {mounted:.0} q/s ({:.2}x); mount, one query per open: {one_by_one:.0} q/s ({:.2}x)",
            mounted / in_process,
            one_by_one / in_process
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
