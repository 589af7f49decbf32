//! A minimal linked ESP32-S3 firmware ELF for tests that need one to build, convert or flash,
//! written with `object::write` so that no real firmware or toolchain is needed.

/// A minimal linked Xtensa ELF: one `.text` section in flash (IROM) and one in IRAM.
pub fn synthetic_elf() -> Vec<u8> {
    use object::elf;
    use object::write::elf::{FileHeader, SectionHeader, Writer};
    let sections: [(&[u8], u32, &[u8]); 2] = [
        (b".text", 0x4200_0020, &[0x36u8; 256]),
        (b".iram0.text", 0x4037_8000, &[0x06u8; 64]),
    ];
    let mut out = Vec::new();
    let mut writer = Writer::new(object::Endianness::Little, false, &mut out);
    writer.reserve_file_header();
    let mut reserved = Vec::new();
    for (name, addr, data) in sections {
        let name = writer.add_section_name(name);
        writer.reserve_section_index();
        let offset = writer.reserve(data.len(), 4);
        reserved.push((name, addr, data, offset));
    }
    writer.reserve_shstrtab_section_index();
    writer.reserve_shstrtab();
    writer.reserve_section_headers();
    writer
        .write_file_header(&FileHeader {
            os_abi: 0,
            abi_version: 0,
            e_type: elf::ET_EXEC,
            e_machine: elf::EM_XTENSA,
            e_entry: 0x4037_8000,
            e_flags: 0x300,
        })
        .expect("ELF header");
    for (_, _, data, _) in &reserved {
        writer.write_align(4);
        writer.write(data);
    }
    writer.write_shstrtab();
    writer.write_null_section_header();
    for (name, addr, data, offset) in &reserved {
        writer.write_section_header(&SectionHeader {
            name: Some(*name),
            sh_type: elf::SHT_PROGBITS,
            sh_flags: u64::from(elf::SHF_ALLOC | elf::SHF_EXECINSTR),
            sh_addr: u64::from(*addr),
            sh_offset: *offset as u64,
            sh_size: data.len() as u64,
            sh_link: 0,
            sh_info: 0,
            sh_addralign: 4,
            sh_entsize: 0,
        });
    }
    writer.write_shstrtab_section_header();
    out
}
