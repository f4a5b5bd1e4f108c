package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// cmdGroups describes consumer groups and their lag, like
// kafka-consumer-groups --describe, with a summary table first.
func cmdGroups(ctx context.Context, args []string, std stdio) error {
	fs := newFlags("groups [--group G] [--json] [--config FILE]", `
Lists every consumer group on the cluster (hookbridge's and anyone else's):
its state, protocol and members (client id, host, assigned partitions), and
per topic and partition the committed offset, the end offset, the last stable
offset and the lag. Lag is measured to the last stable offset, the end a
read_committed consumer can reach: transaction markers and records of open
transactions are not lag. A summary table with each group's total lag comes
first. Exits non-zero when a group named with --group does not exist.`, std)
	cfgPath := configFlag(fs)
	group := fs.String("group", "", "describe only this consumer group `id`")
	asJSON := fs.Bool("json", false, "print one JSON document for scripts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	cl, err := newKafkaClient(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	groups, err := describeGroups(ctx, kadm.NewClient(cl), *group)
	if err != nil {
		return err
	}
	if err := discountMarkers(ctx, groups, func(opts ...kgo.Opt) (*kgo.Client, error) { return newKafkaClient(cfg, opts...) }); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(std.out)
		enc.SetIndent("", "  ")
		return enc.Encode(groups)
	}
	printGroups(std.out, groups)
	return nil
}

// groupView is one consumer group as `groups` shows it.
type groupView struct {
	Group        string          `json:"group"`
	State        string          `json:"state"`
	Type         string          `json:"type"` // classic, or consumer (KIP-848: the broker assigns)
	ProtocolType string          `json:"protocol_type"`
	Protocol     string          `json:"protocol"`
	Members      []memberView    `json:"members"`
	Partitions   []partitionView `json:"partitions"`
	TotalLag     int64           `json:"total_lag"`
}

type memberView struct {
	MemberID string             `json:"member_id"`
	ClientID string             `json:"client_id"`
	Host     string             `json:"host"`
	Assigned map[string][]int32 `json:"assigned"`
}

// partitionView is a group's position on one partition. End is the high
// watermark; Stable the last stable offset the lag is measured to.
type partitionView struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"` // -1: nothing committed yet
	End       int64  `json:"end"`
	Stable    int64  `json:"stable"`
	Lag       int64  `json:"lag"`
	MemberID  string `json:"member_id,omitempty"`
	Error     string `json:"error,omitempty"`
}

// describeGroups describes one group (named) or every group on the cluster.
func describeGroups(ctx context.Context, adm *kadm.Client, named string) ([]groupView, error) {
	var names []string
	if named != "" {
		names = []string{named}
	} else {
		listed, err := adm.ListGroups(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing consumer groups: %w", err)
		}
		names = listed.Groups()
	}
	if len(names) == 0 {
		return nil, nil
	}
	described, err := adm.DescribeGroups(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describing consumer groups: %w", err)
	}
	fetched := adm.FetchManyOffsets(ctx, names...)
	consumer := describeConsumerProtocol(ctx, adm, described)
	if named != "" {
		if _, ok := consumer[named]; !ok {
			if err := groupExists(described[named], fetched[named]); err != nil {
				return nil, err
			}
		}
	}
	ends, stable, starts, err := listOffsets(ctx, adm, described, consumer, fetched)
	if err != nil {
		return nil, err
	}
	var out []groupView
	for _, g := range described.Sorted() {
		cg, isConsumer := consumer[g.Group]
		if g.Err != nil && !errors.Is(g.Err, kerr.GroupIDNotFound) {
			return nil, fmt.Errorf("describing group %s: %w", g.Group, g.Err)
		}
		if f := fetched[g.Group]; f.Err != nil && !errors.Is(f.Err, kerr.GroupIDNotFound) {
			return nil, fmt.Errorf("fetching the offsets of group %s: %w", g.Group, f.Err)
		}
		if isConsumer {
			out = append(out, consumerGroupViewOf(cg, fetched[g.Group].Fetched, starts, stable, ends))
			continue
		}
		lag := kadm.CalculateGroupLagWithStartOffsets(g, fetched[g.Group].Fetched, starts, stable)
		out = append(out, groupViewOf(g, lag, ends))
	}
	return out, nil
}

// describeConsumerProtocol describes the groups whose members use the
// consumer protocol (KIP-848, group.protocol=consumer): a broker describes
// them whole only through ConsumerGroupDescribe (Kafka 4 answers
// DescribeGroups for them with GROUP_ID_NOT_FOUND), which in turn does not
// know classic groups. A broker without that API has no such groups.
func describeConsumerProtocol(ctx context.Context, adm *kadm.Client, described kadm.DescribedGroups) kadm.DescribedConsumerGroups {
	names := make([]string, 0, len(described))
	for name := range described {
		names = append(names, name)
	}
	cgs, err := adm.DescribeConsumerGroups(ctx, names...)
	if err != nil {
		return nil
	}
	for name, cg := range cgs {
		if cg.Err != nil {
			delete(cgs, name)
		}
	}
	return cgs
}

// consumerGroupViewOf is groupViewOf for a consumer-protocol group: the
// broker assigns its partitions, so members and owners come from each
// member's current assignment, and an assigned partition without a commit
// counts its lag from the log start as kadm does for classic groups.
func consumerGroupViewOf(cg kadm.DescribedConsumerGroup, commits kadm.OffsetResponses, starts, stable, ends kadm.ListedOffsets) groupView {
	owner := map[string]map[int32]string{}
	all := kadm.OffsetResponses{}
	commits.Each(func(o kadm.OffsetResponse) { all.Add(o) })
	var members []memberView
	for _, m := range cg.Members {
		mv := memberView{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assigned: map[string][]int32{}}
		for _, ps := range m.Assignment.Sorted() {
			if ps.Topic == "" {
				continue // named only by its topic id (kfake does so)
			}
			mv.Assigned[ps.Topic] = ps.Partitions
			for _, p := range ps.Partitions {
				if owner[ps.Topic] == nil {
					owner[ps.Topic] = map[int32]string{}
				}
				owner[ps.Topic][p] = m.MemberID
				if _, ok := all.Lookup(ps.Topic, p); !ok {
					all.Add(kadm.OffsetResponse{Offset: kadm.Offset{Topic: ps.Topic, Partition: p, At: -1}})
				}
			}
		}
		members = append(members, mv)
	}
	lag := kadm.CalculateGroupLagWithStartOffsets(kadm.DescribedGroup{Group: cg.Group}, all, starts, stable)
	v := groupViewOf(kadm.DescribedGroup{Group: cg.Group, State: cg.State, ProtocolType: "consumer", Protocol: cg.AssignorName}, lag, ends)
	v.Type = "consumer"
	if members != nil {
		v.Members = members
	}
	for i := range v.Partitions {
		v.Partitions[i].MemberID = owner[v.Partitions[i].Topic][v.Partitions[i].Partition]
	}
	return v
}

// groupExists tells a named group that does not exist from one that is
// merely empty: it has neither members nor committed offsets.
func groupExists(d kadm.DescribedGroup, f kadm.FetchOffsetsResponse) error {
	noGroup := errors.Is(d.Err, kerr.GroupIDNotFound) || d.State == "Dead" || d.State == ""
	if noGroup && len(d.Members) == 0 && len(f.Fetched.Offsets()) == 0 {
		return fmt.Errorf("consumer group %q does not exist (run 'hookbridge groups' to list them)", d.Group)
	}
	return nil
}

// listOffsets lists the high watermarks, last stable offsets and log start
// offsets of every topic the groups consume or committed to.
func listOffsets(ctx context.Context, adm *kadm.Client, d kadm.DescribedGroups, cgs kadm.DescribedConsumerGroups, f kadm.FetchOffsetsResponses) (ends, stable, starts kadm.ListedOffsets, err error) {
	set := d.AssignedPartitions()
	for _, cg := range cgs {
		set.Merge(cg.AssignedPartitions())
	}
	delete(set, "") // a topic the broker named only by its id (kfake): nothing to list
	set.Merge(f.CommittedPartitions())
	topics := set.Topics()
	if len(topics) == 0 {
		return nil, nil, nil, nil
	}
	sort.Strings(topics)
	for _, l := range []struct {
		fn  func(context.Context, ...string) (kadm.ListedOffsets, error)
		dst *kadm.ListedOffsets
	}{{adm.ListEndOffsets, &ends}, {adm.ListCommittedOffsets, &stable}, {adm.ListStartOffsets, &starts}} {
		*l.dst, err = l.fn(ctx, topics...)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("listing offsets of %s: %w", strings.Join(topics, ", "), err)
		}
	}
	return ends, stable, starts, nil
}

func groupViewOf(g kadm.DescribedGroup, lag kadm.GroupLag, ends kadm.ListedOffsets) groupView {
	v := groupView{Group: g.Group, State: g.State, Type: "classic", ProtocolType: g.ProtocolType, Protocol: g.Protocol,
		Members: []memberView{}, Partitions: []partitionView{}}
	if errors.Is(g.Err, kerr.GroupIDNotFound) {
		v.State = "Dead"
	}
	for _, m := range g.Members {
		mv := memberView{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assigned: map[string][]int32{}}
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range c.Topics {
				mv.Assigned[t.Topic] = append([]int32(nil), t.Partitions...)
				sort.Slice(mv.Assigned[t.Topic], func(i, j int) bool { return mv.Assigned[t.Topic][i] < mv.Assigned[t.Topic][j] })
			}
		}
		v.Members = append(v.Members, mv)
	}
	for _, l := range lag.Sorted() {
		p := partitionView{Topic: l.Topic, Partition: l.Partition, Committed: l.Commit.At,
			Stable: l.End.Offset, Lag: l.Lag, End: -1}
		if e, ok := ends.Lookup(l.Topic, l.Partition); ok && e.Err == nil {
			p.End = e.Offset
		}
		if l.Member != nil {
			p.MemberID = l.Member.MemberID
		}
		if l.Err != nil {
			p.Error = l.Err.Error()
		} else {
			v.TotalLag += l.Lag
		}
		v.Partitions = append(v.Partitions, p)
	}
	return v
}

// printGroups writes the summary table, then each group's members and
// partitions.
func printGroups(w io.Writer, groups []groupView) {
	if len(groups) == 0 {
		fmt.Fprintln(w, "no consumer groups")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATE\tTYPE\tPROTOCOL\tMEMBERS\tTOTAL LAG")
	for _, g := range groups {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\n", g.Group, g.State, g.Type, protocolOf(g), len(g.Members), g.TotalLag)
	}
	_ = tw.Flush()
	for _, g := range groups {
		fmt.Fprintf(w, "\ngroup %s (%s, %s, %s)\n", g.Group, g.State, g.Type, protocolOf(g))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		if len(g.Members) > 0 {
			fmt.Fprintln(tw, "  MEMBER\tCLIENT ID\tHOST\tASSIGNED")
			for _, m := range g.Members {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", m.MemberID, m.ClientID, m.Host, assignedString(m.Assigned))
			}
			_ = tw.Flush()
			tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		}
		fmt.Fprintln(tw, "  TOPIC\tPARTITION\tCOMMITTED\tEND\tSTABLE\tLAG\tMEMBER")
		for _, p := range g.Partitions {
			committed, lag := fmt.Sprint(p.Committed), fmt.Sprint(p.Lag)
			if p.Committed < 0 {
				committed = "-"
			}
			if p.Error != "" {
				lag = "error: " + p.Error
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%d\t%d\t%s\t%s\n", p.Topic, p.Partition, committed, p.End, p.Stable, lag, p.MemberID)
		}
		_ = tw.Flush()
	}
}

func protocolOf(g groupView) string {
	switch {
	case g.ProtocolType == "" && g.Protocol == "":
		return "-"
	case g.Protocol == "":
		return g.ProtocolType
	}
	return g.ProtocolType + "/" + g.Protocol
}

func assignedString(a map[string][]int32) string {
	topics := make([]string, 0, len(a))
	for t := range a {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	parts := make([]string, 0, len(topics))
	for _, t := range topics {
		parts = append(parts, fmt.Sprintf("%s%v", t, a[t]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// exactLagLimit bounds the gap, in offsets, that discountMarkers reads to
// count records; a larger lag is the offset difference, where the few
// markers in it hardly matter.
const exactLagLimit = 10_000

// discountMarkers replaces each small lag by the number of records a
// read_committed consumer would still get: a transactional consumer commits
// the offset after its last record, so the commit marker that follows is
// below the last stable offset without being anything left to read.
func discountMarkers(ctx context.Context, groups []groupView, newClient func(...kgo.Opt) (*kgo.Client, error)) error {
	gaps := map[string]map[int32]kgo.Offset{}
	for _, g := range groups {
		for _, p := range g.Partitions {
			if p.Error == "" && p.Committed >= 0 && p.Lag > 0 && p.Lag <= exactLagLimit {
				if gaps[p.Topic] == nil {
					gaps[p.Topic] = map[int32]kgo.Offset{}
				}
				gaps[p.Topic][p.Partition] = kgo.NewOffset().At(p.Committed)
			}
		}
	}
	if len(gaps) == 0 {
		return nil
	}
	records, err := countCommitted(ctx, groups, gaps, newClient)
	if err != nil {
		return err
	}
	for gi := range groups {
		g := &groups[gi]
		g.TotalLag = 0
		for pi := range g.Partitions {
			p := &g.Partitions[pi]
			if _, ok := gaps[p.Topic][p.Partition]; ok {
				p.Lag = records(p.Topic, p.Partition, p.Committed, p.Stable)
			}
			if p.Error == "" {
				g.TotalLag += p.Lag
			}
		}
	}
	return nil
}

// countCommitted reads each gap's partition read_committed from the lowest
// committed offset any group has there up to its last stable offset, and
// returns a function counting the data records in [from, to).
func countCommitted(ctx context.Context, groups []groupView, gaps map[string]map[int32]kgo.Offset, newClient func(...kgo.Opt) (*kgo.Client, error)) (func(string, int32, int64, int64) int64, error) {
	stable := map[string]map[int32]int64{}
	for _, g := range groups {
		for _, p := range g.Partitions {
			if o, ok := gaps[p.Topic][p.Partition]; ok {
				if p.Committed < o.EpochOffset().Offset {
					gaps[p.Topic][p.Partition] = kgo.NewOffset().At(p.Committed)
				}
				if stable[p.Topic] == nil {
					stable[p.Topic] = map[int32]int64{}
				}
				stable[p.Topic][p.Partition] = p.Stable
			}
		}
	}
	cl, err := newClient(kgo.ConsumePartitions(gaps), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	offsets := map[string]map[int32][]int64{} // data record offsets below the LSO
	left := 0
	for _, ps := range gaps {
		left += len(ps)
	}
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("reading up to the last stable offsets to count lag: %w", ctx.Err())
		}
		if err := fs.Err(); err != nil {
			return nil, fmt.Errorf("reading up to the last stable offsets to count lag: %w", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end := stable[r.Topic][r.Partition]
			if r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() {
				if offsets[r.Topic] == nil {
					offsets[r.Topic] = map[int32][]int64{}
				}
				offsets[r.Topic][r.Partition] = append(offsets[r.Topic][r.Partition], r.Offset)
			}
			if r.Offset+1 == end {
				left--
			}
		})
	}
	return func(topic string, partition int32, from, to int64) int64 {
		var n int64
		for _, o := range offsets[topic][partition] {
			if o >= from && o < to {
				n++
			}
		}
		return n
	}, nil
}
