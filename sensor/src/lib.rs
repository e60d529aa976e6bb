//! virga sensor library
