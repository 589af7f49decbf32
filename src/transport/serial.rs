//! The serial-port transport: the only file that names the `serialport` crate. TODO(owner: loader helper).
