//go:build wasip1

package bitvault

import "unsafe"

//go:wasmimport bitvault_v1 input_len
func inputLen() int32

//go:wasmimport bitvault_v1 read_input
func readInput(offset int32, ptr unsafe.Pointer, length int32) int32

//go:wasmimport bitvault_v1 write_output
func writeOutput(ptr unsafe.Pointer, length int32) int32

//go:wasmimport bitvault_v1 set_error
func setError(ptr unsafe.Pointer, length int32) int32

//go:wasmimport bitvault_v1 log
func logMessage(level int32, ptr unsafe.Pointer, length int32) int32

//go:wasmimport bitvault_v1 config_get
func configGet(keyPtr unsafe.Pointer, keyLen int32) int32

//go:wasmimport bitvault_v1 result_read
func resultRead(offset int32, ptr unsafe.Pointer, length int32) int32

func check(code int32) error {
	if code < 0 {
		return HostError(code)
	}
	return nil
}

// Input reads the whole request (`input_len`, then `read_input` until it
// returns 0).
func Input() ([]byte, error) {
	n := inputLen()
	buf := make([]byte, n)
	off := int32(0)
	for off < n {
		got := readInput(off, unsafe.Pointer(unsafe.SliceData(buf[off:])), n-off)
		if err := check(got); err != nil {
			return nil, err
		}
		if got == 0 {
			break
		}
		off += got
	}
	return buf[:off], nil
}

// Output appends b to the response (`write_output`). A response over the
// call's output limit ends the call; Output does not return then.
func Output(b []byte) error {
	return check(writeOutput(unsafe.Pointer(unsafe.SliceData(b)), int32(len(b))))
}

// SetError sets the message reported with a non-zero result
// (`set_error`). Handle calls it for you.
func SetError(message string) error {
	return check(setError(unsafe.Pointer(unsafe.StringData(message)), int32(len(message))))
}

// Log logs message at level (`log`; needs the `log` capability).
func Log(level Level, message string) error {
	return check(logMessage(int32(level), unsafe.Pointer(unsafe.StringData(message)), int32(len(message))))
}

// Config returns the installation's configuration value for key
// (`config_get` and `result_read`; needs the `config` capability), and
// whether it is set.
func Config(key string) (string, bool, error) {
	n := configGet(unsafe.Pointer(unsafe.StringData(key)), int32(len(key)))
	if HostError(n) == NotFound {
		return "", false, nil
	}
	if err := check(n); err != nil {
		return "", false, err
	}
	buf := make([]byte, n)
	off := int32(0)
	for off < n {
		got := resultRead(off, unsafe.Pointer(unsafe.SliceData(buf[off:])), n-off)
		if err := check(got); err != nil {
			return "", false, err
		}
		if got == 0 {
			break
		}
		off += got
	}
	return string(buf[:off]), true, nil
}

// Handle runs one entry point: it reads the request, calls handler, and
// writes its response. It returns the entry point's result: 0, or the
// error's code (ErrorCode) after passing its message to `set_error`.
func Handle(handler func(request []byte) ([]byte, error)) int32 {
	request, err := Input()
	if err == nil {
		var response []byte
		response, err = handler(request)
		if err == nil {
			err = Output(response)
		}
	}
	if err != nil {
		// A message over the host's bound is refused; the code still
		// tells the failure.
		_ = SetError(err.Error())
	}
	return ErrorCode(err)
}
