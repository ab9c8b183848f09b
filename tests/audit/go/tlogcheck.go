// tlogcheck checks the registry's audit checkpoints and proofs with Go's reference
// implementations of signed notes and transparency logs (golang.org/x/mod/sumdb/note
// and sumdb/tlog), independently of the Python code that produced them.
//
// Input (JSON on stdin): the verifier key, signed checkpoint notes, inclusion proofs
// (optionally with the entry's canonical bytes) and consistency proofs. Roots are never
// taken from the input: only from notes that verify under the key.
// Output (JSON on stdout): one result per note and per proof, {"ok": bool, "error": "..."}.
package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type input struct {
	Vkey        string        `json:"vkey"`
	Notes       []string      `json:"notes"`
	Inclusion   []inclusion   `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
}

type inclusion struct {
	Index int64    `json:"index"`
	Size  int64    `json:"size"`
	Leaf  string   `json:"leaf"`
	Data  string   `json:"data,omitempty"` // the entry's canonical bytes, if given
	Proof []string `json:"proof"`
}

type consistency struct {
	Old   int64    `json:"old"`
	New   int64    `json:"new"`
	Proof []string `json:"proof"`
}

type result struct {
	OK        bool   `json:"ok"`
	Error     string `json:"error,omitempty"`
	Origin    string `json:"origin,omitempty"`
	Size      int64  `json:"size,omitempty"`
	Root      string `json:"root,omitempty"`
	Timestamp int64  `json:"timestamp,omitempty"`
}

type output struct {
	KeyName     string   `json:"key_name"`
	Notes       []result `json:"notes"`
	Inclusion   []result `json:"inclusion"`
	Consistency []result `json:"consistency"`
}

// parseCheckpoint reads the C2SP tlog-checkpoint body: origin, size, root, then
// extension lines (ours: "timestamp N").
func parseCheckpoint(text string) (result, tlog.Hash, error) {
	var r result
	lines := strings.Split(text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return r, tlog.Hash{}, errors.New("not a checkpoint body")
	}
	r.Origin = lines[0]
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return r, tlog.Hash{}, errors.New("bad tree size")
	}
	r.Size = size
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		return r, tlog.Hash{}, errors.New("bad root hash")
	}
	var root tlog.Hash
	copy(root[:], raw)
	r.Root = lines[2]
	for _, ext := range lines[3 : len(lines)-1] {
		if strings.HasPrefix(ext, "timestamp ") { // strings.CutPrefix needs Go 1.20; Debian 12 has 1.19
			if r.Timestamp, err = strconv.ParseInt(strings.TrimPrefix(ext, "timestamp "), 10, 64); err != nil {
				return r, tlog.Hash{}, errors.New("bad timestamp")
			}
		}
	}
	return r, root, nil
}

func hashes(list []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(list))
	for i, s := range list {
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(raw) != tlog.HashSize {
			return nil, fmt.Errorf("proof hash %d is malformed", i)
		}
		copy(out[i][:], raw)
	}
	return out, nil
}

func failed(err error) result { return result{OK: false, Error: err.Error()} }

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "bad input:", err)
		os.Exit(2)
	}
	verifier, err := note.NewVerifier(in.Vkey)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad verifier key:", err)
		os.Exit(2)
	}
	out := output{KeyName: verifier.Name(), Notes: []result{}, Inclusion: []result{}, Consistency: []result{}}
	roots := map[int64]tlog.Hash{}
	for _, text := range in.Notes {
		n, err := note.Open([]byte(text), note.VerifierList(verifier))
		if err != nil {
			out.Notes = append(out.Notes, failed(err))
			continue
		}
		r, root, err := parseCheckpoint(n.Text)
		if err != nil {
			out.Notes = append(out.Notes, failed(err))
			continue
		}
		if r.Origin != verifier.Name() {
			out.Notes = append(out.Notes, failed(errors.New("origin is not the key name")))
			continue
		}
		r.OK = true
		roots[r.Size] = root
		out.Notes = append(out.Notes, r)
	}
	for _, p := range in.Inclusion {
		root, ok := roots[p.Size]
		if !ok {
			out.Inclusion = append(out.Inclusion, failed(errors.New("no verified checkpoint of that size")))
			continue
		}
		proof, err := hashes(p.Proof)
		if err != nil {
			out.Inclusion = append(out.Inclusion, failed(err))
			continue
		}
		leaves, err := hashes([]string{p.Leaf})
		if err != nil {
			out.Inclusion = append(out.Inclusion, failed(err))
			continue
		}
		if p.Data != "" {
			data, err := base64.StdEncoding.DecodeString(p.Data)
			if err != nil {
				out.Inclusion = append(out.Inclusion, failed(err))
				continue
			}
			if tlog.RecordHash(data) != leaves[0] {
				out.Inclusion = append(out.Inclusion, failed(errors.New("leaf is not the record hash of the entry")))
				continue
			}
		}
		if err := tlog.CheckRecord(proof, p.Size, root, p.Index, leaves[0]); err != nil {
			out.Inclusion = append(out.Inclusion, failed(err))
			continue
		}
		out.Inclusion = append(out.Inclusion, result{OK: true, Size: p.Size})
	}
	for _, p := range in.Consistency {
		oldRoot, okOld := roots[p.Old]
		newRoot, okNew := roots[p.New]
		if !okOld || !okNew {
			out.Consistency = append(out.Consistency, failed(errors.New("no verified checkpoint of that size")))
			continue
		}
		proof, err := hashes(p.Proof)
		if err != nil {
			out.Consistency = append(out.Consistency, failed(err))
			continue
		}
		if err := tlog.CheckTree(proof, p.New, newRoot, p.Old, oldRoot); err != nil {
			out.Consistency = append(out.Consistency, failed(err))
			continue
		}
		out.Consistency = append(out.Consistency, result{OK: true, Size: p.New})
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(2)
	}
}
