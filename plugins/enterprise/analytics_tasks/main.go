// Command analytics_tasks is an enterprise plugin: aggregations over JSON
// or CSV records (count, sum, mean, min, max, percentiles, grouped by a
// field) and value counts.
package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"taskhost.dev/sdk"
)

func init() {
	sdk.Register("aggregate", aggregate, sdk.Describe(`statistics of a numeric field, optionally per group: {"records":[...],"field":"amount","group_by":"region","percentiles":[50,90]}`))
	sdk.Register("count_by", countBy, sdk.Describe(`how often each value of a field occurs: {"records":[...],"field":"status"}`))
}

func main() {}

// Records is the data part of every task's input: JSON records, or CSV
// text with a header row.
type Records struct {
	Records []map[string]any `json:"records"`
	CSV     *string          `json:"csv"`
}

// rows returns the records, parsing CSV when given.
func (r Records) rows() ([]map[string]any, error) {
	if r.CSV == nil {
		if r.Records == nil {
			return nil, sdk.BadInput(errors.New(`give "records" (an array of objects) or "csv" (text with a header row)`))
		}
		return r.Records, nil
	}
	all, err := csv.NewReader(strings.NewReader(*r.CSV)).ReadAll()
	if err != nil {
		return nil, sdk.BadInput(fmt.Errorf("csv: %w", err))
	}
	var out []map[string]any
	for i, row := range all {
		if i == 0 {
			continue
		}
		rec := map[string]any{}
		for j, h := range all[0] {
			if j < len(row) {
				rec[h] = row[j]
			}
		}
		out = append(out, rec)
	}
	return out, nil
}

// AggregateInput is aggregate's input.
type AggregateInput struct {
	Records
	Field       string    `json:"field"`
	GroupBy     string    `json:"group_by"`
	Percentiles []float64 `json:"percentiles"`
}

// Stats are one group's statistics.
type Stats struct {
	Key         *string            `json:"key,omitempty"`
	Count       int                `json:"count"`
	Sum         float64            `json:"sum"`
	Mean        float64            `json:"mean"`
	Min         float64            `json:"min"`
	Max         float64            `json:"max"`
	Percentiles map[string]float64 `json:"percentiles,omitempty"`
}

// AggregateOutput is aggregate's output: one entry per group (one in all
// without group_by), in key order, and how many records had no number in
// the field.
type AggregateOutput struct {
	Groups  []Stats `json:"groups"`
	Skipped int     `json:"skipped"`
}

func aggregate(in AggregateInput) (AggregateOutput, error) {
	if in.Field == "" {
		return AggregateOutput{}, sdk.BadInput(errors.New(`aggregate needs "field", the numeric field to summarise`))
	}
	for _, p := range in.Percentiles {
		if p < 0 || p > 100 || math.IsNaN(p) {
			return AggregateOutput{}, sdk.BadInput(fmt.Errorf("percentile %v is outside 0-100", p))
		}
	}
	rows, err := in.rows()
	if err != nil {
		return AggregateOutput{}, err
	}
	groups := map[string][]float64{}
	out := AggregateOutput{Groups: []Stats{}}
	for _, r := range rows {
		v, ok := number(r[in.Field])
		if !ok {
			out.Skipped++
			continue
		}
		key := ""
		if in.GroupBy != "" {
			key = text(r[in.GroupBy])
		}
		groups[key] = append(groups[key], v)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s := stats(groups[k], in.Percentiles)
		if in.GroupBy != "" {
			s.Key = &k
		}
		out.Groups = append(out.Groups, s)
	}
	return out, nil
}

// stats summarises vs (not empty).
func stats(vs []float64, percentiles []float64) Stats {
	sort.Float64s(vs)
	s := Stats{Count: len(vs), Min: vs[0], Max: vs[len(vs)-1]}
	for _, v := range vs {
		s.Sum += v
	}
	s.Mean = s.Sum / float64(len(vs))
	for _, p := range percentiles {
		if s.Percentiles == nil {
			s.Percentiles = map[string]float64{}
		}
		s.Percentiles[strconv.FormatFloat(p, 'f', -1, 64)] = percentile(vs, p)
	}
	return s
}

// percentile interpolates linearly between the closest ranks of sorted vs
// (NumPy's default method).
func percentile(vs []float64, p float64) float64 {
	rank := p / 100 * float64(len(vs)-1)
	lo := int(math.Floor(rank))
	hi := int(math.Ceil(rank))
	return vs[lo] + (vs[hi]-vs[lo])*(rank-float64(lo))
}

// number reads a JSON number or a numeric string.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}

// text is a value as a group key: strings as they are, others as JSON.
func text(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// CountByInput is count_by's input.
type CountByInput struct {
	Records
	Field string `json:"field"`
}

// ValueCount is one value and how often it occurs.
type ValueCount struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// CountByOutput lists the values, most frequent first (ties by value).
type CountByOutput struct {
	Counts []ValueCount `json:"counts"`
	Total  int          `json:"total"`
}

func countBy(in CountByInput) (CountByOutput, error) {
	if in.Field == "" {
		return CountByOutput{}, sdk.BadInput(errors.New(`count_by needs "field"`))
	}
	rows, err := in.rows()
	if err != nil {
		return CountByOutput{}, err
	}
	counts := map[string]int{}
	for _, r := range rows {
		v, ok := r[in.Field]
		if !ok {
			continue
		}
		counts[text(v)]++
	}
	out := CountByOutput{Counts: []ValueCount{}, Total: len(rows)}
	for v, n := range counts {
		out.Counts = append(out.Counts, ValueCount{v, n})
	}
	sort.Slice(out.Counts, func(i, j int) bool {
		a, b := out.Counts[i], out.Counts[j]
		return a.Count > b.Count || a.Count == b.Count && a.Value < b.Value
	})
	return out, nil
}
