module bitvault.internal/plugins

go 1.24

require google.golang.org/protobuf v1.28.1

// Debian's golang-google-protobuf-dev: the build is offline (GOPROXY=off).
replace google.golang.org/protobuf => /usr/share/gocode/src/google.golang.org/protobuf
