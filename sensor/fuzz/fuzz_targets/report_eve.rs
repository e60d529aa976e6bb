//! Fuzz `virga report`'s input side: any bytes as an EVE file, streamed
//! through the alert reader into the report model and rendered to HTML. Must
//! not panic; the page must be complete.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut model = virga::report::model::Model::default();
    let read = virga::eve::read::read_alerts(data, |a| model.add(a, "fuzz"))
        .expect("reading from memory cannot fail");
    model.add_file(read);
    let page = virga::report::html::render(&model);
    assert!(page.ends_with("</html>\n"), "incomplete page");
});
