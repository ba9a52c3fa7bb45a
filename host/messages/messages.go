package messages

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"
)

// Bucket is the store bucket of the message records.
const Bucket = "messages"

// DefaultMaxPerNode is how many entries a node keeps when Options does not
// say.
const DefaultMaxPerNode = 1000

// EventMessageReceived is the original's event name, one per recipient.
const EventMessageReceived = "message_received"

// Directions of an entry, as the original named them.
const (
	DirectionReceived = "received"
	DirectionSent     = "sent"
)

// Message is one text or JSON message, with the original's field names.
type Message struct {
	ID          string `json:"id"`
	CastType    string `json:"cast_type"`
	MessageType string `json:"message_type"`
	// Content is the message as sent: a JSON string for text, any JSON
	// value for json.
	Content json.RawMessage `json:"content"`
	Sender  string          `json:"sender"`
	// Timestamp is Unix seconds, the sender's or the time it was recorded.
	Timestamp float64 `json:"timestamp"`
}

// record is what the store holds for one send.
type record struct {
	Seq        uint64    `json:"seq"`
	Message    Message   `json:"message"`
	Recipients []string  `json:"recipients"`
	SenderNode string    `json:"sender_node,omitempty"`
	RecordedAt time.Time `json:"recorded_at"`
}

// Entry is one message in a node's list, in the original's shape
// ({direction, from, message, timestamp}) plus the node it belongs to.
type Entry struct {
	Direction string `json:"direction"`
	NodeID    string `json:"node_id"`
	// From is the message's sender.
	From string `json:"from"`
	// Recipients lists the nodes a "sent" entry went to.
	Recipients []string `json:"recipients,omitempty"`
	Message    Message  `json:"message"`
	// Timestamp is when the daemon recorded it, Unix seconds.
	Timestamp float64 `json:"timestamp"`
}

// ReceivedEvent is the data of a message_received event: the original's
// message_id, cast_type and sender, plus the recipient and the message.
type ReceivedEvent struct {
	MessageID   string          `json:"message_id"`
	CastType    string          `json:"cast_type"`
	Sender      string          `json:"sender"`
	NodeID      string          `json:"node_id"`
	MessageType string          `json:"message_type"`
	Content     json.RawMessage `json:"content"`
	Timestamp   float64         `json:"timestamp"`
}

// Store is what the log needs of the daemon's store (host/store).
type Store interface {
	Put(bucket, key string, v any) error
	Get(bucket, key string, v any) (bool, error)
	Delete(bucket, key string) error
	List(bucket string, fn func(key string, raw []byte) error) error
}

// Options configure a Log.
type Options struct {
	Store Store
	// MaxPerNode bounds each node's entries (0 = DefaultMaxPerNode).
	MaxPerNode int
	// Emit publishes events (host/events Bus.Publish); nil = none.
	Emit func(typ string, data any)
	// Now is the clock (nil = time.Now).
	Now func() time.Time
	// Log reports records that could not be loaded or deleted; nil = none.
	Log hclog.Logger
}

// ref is one entry of a node's index.
type ref struct {
	seq uint64
	dir string
}

// Log is the per-node message log.
type Log struct {
	o     Options
	mu    sync.Mutex
	next  uint64
	nodes map[string][]ref // per node, oldest first
	refs  map[uint64]int   // how many entries point at a record
}

// New returns an empty log; Load reads the saved records.
func New(o Options) *Log {
	if o.MaxPerNode <= 0 {
		o.MaxPerNode = DefaultMaxPerNode
	}
	if o.Emit == nil {
		o.Emit = func(string, any) {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = hclog.NewNullLogger()
	}
	return &Log{o: o, next: 1, nodes: map[string][]ref{}, refs: map[uint64]int{}}
}

// MaxPerNode is the bound on each node's entries.
func (l *Log) MaxPerNode() int { return l.o.MaxPerNode }

func key(seq uint64) string { return fmt.Sprintf("%020d", seq) }

// Load rebuilds the index from the store, applies the per-node bound and
// deletes the records no node lists any more. Records that cannot be
// decoded are skipped and logged.
func (l *Log) Load() error {
	var recs []record
	err := l.o.Store.List(Bucket, func(k string, raw []byte) error {
		var r record
		seq, perr := strconv.ParseUint(k, 10, 64)
		if err := json.Unmarshal(raw, &r); err != nil || perr != nil || r.Seq != seq {
			l.o.Log.Warn("skipping an unreadable message record", "key", k, "error", errors.Join(err, perr))
			return nil
		}
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return fmt.Errorf("load messages: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range recs { // in key order, so oldest first
		l.index(r)
		l.next = max(l.next, r.Seq+1)
	}
	var drop []uint64
	for node := range l.nodes {
		drop = append(drop, l.trim(node)...)
	}
	for _, r := range recs {
		if l.refs[r.Seq] == 0 {
			drop = append(drop, r.Seq)
		}
	}
	l.remove(drop)
	return nil
}

// index adds r's entries; the caller holds l.mu.
func (l *Log) index(r record) {
	for _, n := range r.Recipients {
		l.nodes[n] = insertRef(l.nodes[n], ref{r.Seq, DirectionReceived})
		l.refs[r.Seq]++
	}
	if r.SenderNode != "" {
		l.nodes[r.SenderNode] = insertRef(l.nodes[r.SenderNode], ref{r.Seq, DirectionSent})
		l.refs[r.Seq]++
	}
}

// insertRef adds e to list in seq order: concurrent Records save in any
// order, and a node's list stays oldest first. Nearly always at the end.
func insertRef(list []ref, e ref) []ref {
	i := len(list)
	for i > 0 && list[i-1].seq > e.seq {
		i--
	}
	return slices.Insert(list, i, e)
}

// trim drops a node's oldest entries beyond the bound and returns the
// records no entry points at any more; the caller holds l.mu.
func (l *Log) trim(node string) []uint64 {
	list := l.nodes[node]
	extra := len(list) - l.o.MaxPerNode
	if extra <= 0 {
		return nil
	}
	var orphans []uint64
	for _, e := range list[:extra] {
		if l.refs[e.seq]--; l.refs[e.seq] <= 0 {
			delete(l.refs, e.seq)
			orphans = append(orphans, e.seq)
		}
	}
	l.nodes[node] = slices.Clone(list[extra:])
	return orphans
}

// remove deletes records from the store. A failure is logged: the record
// is no longer listed, and the next Load deletes it.
func (l *Log) remove(seqs []uint64) {
	slices.Sort(seqs)
	for _, seq := range slices.Compact(seqs) {
		if err := l.o.Store.Delete(Bucket, key(seq)); err != nil {
			l.o.Log.Warn("could not delete an old message record", "key", key(seq), "error", err)
		}
	}
}

// Record stores msg as received by every recipient (and sent by
// senderNode when that is not empty), then publishes one
// message_received event per recipient. A zero Timestamp is set to now.
// On error nothing is recorded and nothing is published.
func (l *Log) Record(msg Message, recipients []string, senderNode string) (Message, error) {
	if len(recipients) == 0 {
		return Message{}, errors.New("record message: no recipient")
	}
	now := l.o.Now()
	if msg.Timestamp == 0 {
		msg.Timestamp = unixSeconds(now)
	}
	// The record is saved without l.mu: sends wait for the disk together
	// (their writes can share a commit), not one after the other, and
	// readers of the index never wait for it. A seq whose save fails is
	// not used again.
	l.mu.Lock()
	r := record{Seq: l.next, Message: msg, Recipients: slices.Clone(recipients), SenderNode: senderNode, RecordedAt: now.UTC()}
	l.next++
	l.mu.Unlock()
	if err := l.o.Store.Put(Bucket, key(r.Seq), r); err != nil {
		return Message{}, fmt.Errorf("record message %s: %w", msg.ID, err)
	}
	l.mu.Lock()
	l.index(r)
	var drop []uint64
	for _, n := range recipients {
		drop = append(drop, l.trim(n)...)
	}
	if senderNode != "" {
		drop = append(drop, l.trim(senderNode)...)
	}
	l.mu.Unlock()
	l.remove(drop)
	for _, n := range recipients {
		l.o.Emit(EventMessageReceived, ReceivedEvent{MessageID: msg.ID, CastType: msg.CastType, Sender: msg.Sender, NodeID: n,
			MessageType: msg.MessageType, Content: msg.Content, Timestamp: msg.Timestamp})
	}
	return msg, nil
}

// Recent returns up to count of a node's latest entries, newest first
// (count <= 0 means all it keeps).
func (l *Log) Recent(node string, count int) ([]Entry, error) {
	l.mu.Lock()
	list := l.nodes[node]
	if count > 0 && count < len(list) {
		list = list[len(list)-count:]
	}
	list = slices.Clone(list)
	l.mu.Unlock()
	out := make([]Entry, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- {
		var r record
		found, err := l.o.Store.Get(Bucket, key(list[i].seq), &r)
		if err != nil {
			return nil, fmt.Errorf("messages of node %s: %w", node, err)
		}
		if !found { // evicted meanwhile
			continue
		}
		e := Entry{Direction: list[i].dir, NodeID: node, From: r.Message.Sender, Message: r.Message, Timestamp: unixSeconds(r.RecordedAt)}
		if e.Direction == DirectionSent {
			e.Recipients = r.Recipients
		}
		out = append(out, e)
	}
	return out, nil
}

// Count is how many entries a node keeps.
func (l *Log) Count(node string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.nodes[node])
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMicro()) / 1e6 }
