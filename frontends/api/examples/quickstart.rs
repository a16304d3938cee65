//! A tour of the in-process API: a collection of notes with vectors and metadata, searched with
//! and without a filter. Run it with `cargo run -p vexfs --example quickstart`.

use vexfs::{IndexConfig, Vexfs, vector::ElemType};

fn main() -> Result<(), vexfs::Error> {
    let mut fs = Vexfs::in_memory();
    fs.create_dir_all("/notes")?;
    let mut config = IndexConfig::new(4, ElemType::F32);
    config.metric = vexfs::vector::Metric::Cosine;
    fs.create_collection("/notes", &config)?;
    let notes: [(&str, [f32; 4], &str); 5] = [
        ("rust.txt", [0.9, 0.1, 0.0, 0.0], "en"),
        ("fuse.txt", [0.7, 0.3, 0.1, 0.0], "en"),
        ("hnsw.txt", [0.1, 0.9, 0.2, 0.0], "en"),
        ("recette.txt", [0.0, 0.1, 0.9, 0.3], "fr"),
        ("kochen.txt", [0.0, 0.0, 0.8, 0.6], "de"),
    ];
    for (name, v, lang) in notes {
        let path = format!("/notes/{name}");
        fs.write(&path, format!("a note about {name}"))?;
        fs.set_vector(&path, &v)?;
        fs.set_xattr(&path, "user.lang", lang)?;
    }
    println!("collection: {}", fs.collection_config("/notes")?);
    for query in [
        r#"{"dir":"/notes","vector":[1,0,0,0],"k":3}"#,
        r#"{"dir":"/notes","vector":[0,0,1,0],"k":3,"filter":"lang != fr"}"#,
        r#"{"dir":"/notes","like":"/notes/hnsw.txt","k":2}"#,
    ] {
        println!("\nquery {query}");
        for (rank, hit) in fs.search_json(query)?.iter().enumerate() {
            println!("{:>2} {:.4} {}", rank + 1, hit.distance, hit.path);
        }
    }
    fs.remove_file("/notes/rust.txt")?;
    let after = fs.search_json(r#"{"dir":"/notes","vector":[1,0,0,0],"k":1}"#)?;
    println!("\nafter unlinking rust.txt, nearest is {}", after[0].path);
    fs.check()
        .map_err(|p| vexfs::Error::Invalid(Box::leak(p.to_string().into_boxed_str())))?;
    println!("check: clean");
    Ok(())
}
