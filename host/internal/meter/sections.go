package meter

import "fmt"

// rewrite returns the new body of a section the rewrite extends; body is
// nil when the module has none.
func (m *rewriter) rewrite(id byte, body []byte) []byte {
	r := &reader{b: body}
	n := uint32(0)
	if body != nil {
		n = r.u32()
	}
	out := appendU(nil, uint64(n)+1)
	out = append(out, body[r.pos:]...)
	switch id {
	case secType: // () -> i32
		out = append(out, 0x60, 0x00, 0x01, 0x7F)
	case secImport:
		out = appendName(out, ImportModule)
		out = appendName(out, ImportName)
		out = append(out, 0x00)
		out = appendU(out, uint64(m.types))
	case secGlobal: // (mut i32) = fuel
		out = append(out, 0x7F, 0x01, 0x41)
		out = appendS(out, int64(m.fuel))
		out = append(out, 0x0B)
	}
	return out
}

// section returns a known section's new body.
func (m *rewriter) section(id byte, body []byte) ([]byte, error) {
	switch id {
	case secType, secImport:
		return m.rewrite(id, body), nil
	case secGlobal:
		return m.globalSection(body)
	case secExport:
		return m.exportSection(body)
	case secStart:
		r := &reader{b: body}
		f := r.u32()
		r.end()
		if r.err == nil {
			r.err = m.checkFunc(f)
		}
		if r.err != nil {
			return nil, fmt.Errorf("meter: start section: %w", r.err)
		}
		return appendU(nil, uint64(m.fn(f))), nil
	case secElement:
		return m.elementSection(body)
	case secCode:
		return m.codeSection(body)
	case secData:
		return m.dataSection(body)
	case secFunction, secTable, secMemory, secDataCnt:
		return body, nil
	}
	return nil, fmt.Errorf("meter: unknown section id %d", id)
}

// fn maps a function index of the original module to the new one.
func (m *rewriter) fn(i uint32) uint32 {
	if i >= m.funcImports {
		return i + 1
	}
	return i
}

// The index checks: an index of the original module must be below the
// count the module declares, so that none reaches what the rewrite adds.

func (m *rewriter) checkFunc(i uint32) error {
	if n := m.funcImports + m.funcs; i >= n {
		return outOfRange("function", i, n)
	}
	return nil
}

func (m *rewriter) checkGlobal(i uint32) error {
	if n := m.globalImports + m.globals; i >= n {
		return outOfRange("global", i, n)
	}
	return nil
}

func (m *rewriter) checkTable(i uint32) error {
	if n := m.tableImports + m.tables; i >= n {
		return outOfRange("table", i, n)
	}
	return nil
}

func (m *rewriter) checkType(i uint32) error {
	if i >= m.types {
		return outOfRange("type", i, m.types)
	}
	return nil
}

func (m *rewriter) globalSection(body []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	out := appendU(nil, uint64(n)+1)
	for ; n > 0 && r.err == nil; n-- {
		out = append(out, r.byte(), r.byte())
		out = m.constExpr(r, out)
	}
	r.end()
	if r.err != nil {
		return nil, fmt.Errorf("meter: global section: %w", r.err)
	}
	out = append(out, 0x7F, 0x01, 0x41)
	out = appendS(out, int64(m.fuel))
	return append(out, 0x0B), nil
}

func (m *rewriter) exportSection(body []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	out := appendU(nil, uint64(n))
	for ; n > 0 && r.err == nil; n-- {
		out = appendName(out, r.name())
		kind, idx := r.byte(), r.u32()
		if r.err != nil {
			break
		}
		switch kind {
		case 0x00:
			r.err = m.checkFunc(idx)
			idx = m.fn(idx)
		case 0x01:
			r.err = m.checkTable(idx)
		case 0x03:
			r.err = m.checkGlobal(idx)
		}
		out = appendU(append(out, kind), uint64(idx))
	}
	r.end()
	if r.err != nil {
		return nil, fmt.Errorf("meter: export section: %w", r.err)
	}
	return out, nil
}

func (m *rewriter) elementSection(body []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	out := appendU(nil, uint64(n))
	for ; n > 0 && r.err == nil; n-- {
		flags := r.u32()
		if flags > 7 {
			return nil, fmt.Errorf("meter: element section: unknown segment kind %d", flags)
		}
		out = appendU(out, uint64(flags))
		if flags&0b011 == 0b010 { // explicit table index
			t := r.u32()
			if r.err == nil {
				r.err = m.checkTable(t)
			}
			out = appendU(out, uint64(t))
		}
		if flags&0b001 == 0 { // active: offset
			out = m.constExpr(r, out)
		}
		if flags&0b011 != 0 { // element kind or reference type
			out = append(out, r.byte())
		}
		count := r.u32()
		out = appendU(out, uint64(count))
		for ; count > 0 && r.err == nil; count-- {
			if flags&0b100 != 0 {
				out = m.constExpr(r, out)
				continue
			}
			f := r.u32()
			if r.err == nil {
				r.err = m.checkFunc(f)
			}
			out = appendU(out, uint64(m.fn(f)))
		}
	}
	r.end()
	if r.err != nil {
		return nil, fmt.Errorf("meter: element section: %w", r.err)
	}
	return out, nil
}

// dataSection checks the data segments' offsets, which are copied as they
// are.
func (m *rewriter) dataSection(body []byte) ([]byte, error) {
	r := &reader{b: body}
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		switch flags := r.u32(); flags {
		case 0: // active, memory 0
			m.constExpr(r, nil)
		case 1: // passive
		case 2: // active, explicit memory
			r.u32()
			m.constExpr(r, nil)
		default:
			return nil, fmt.Errorf("meter: data section: unknown segment kind %d", flags)
		}
		r.bytes(int(r.u32()))
	}
	r.end()
	if r.err != nil {
		return nil, fmt.Errorf("meter: data section: %w", r.err)
	}
	return body, nil
}

// constExpr copies a constant expression, up to and including its end.
func (m *rewriter) constExpr(r *reader, out []byte) []byte {
	res, err := m.instrs(r, out, true)
	if err != nil {
		if r.err == nil {
			r.err = err
		}
		return out
	}
	return res
}

// names rewrites the name section's function indices (subsections 1
// function names, 2 local names, 3 label names); other subsections are
// kept as they are.
func (m *rewriter) names(body []byte) ([]byte, error) {
	r := &reader{b: body}
	r.name()
	out := append([]byte(nil), body[:r.pos]...)
	for !r.eof() && r.err == nil {
		id := r.byte()
		sub := r.bytes(int(r.u32()))
		if r.err != nil {
			break
		}
		if id < 1 || id > 3 {
			out = appendSection(out, id, sub)
			continue
		}
		sr := &reader{b: sub}
		n := sr.u32()
		nb := appendU(nil, uint64(n))
		for ; n > 0 && sr.err == nil; n-- {
			nb = appendU(nb, uint64(m.fn(sr.u32())))
			if id == 1 {
				nb = appendName(nb, sr.name())
				continue
			}
			start := sr.pos
			for k := sr.u32(); k > 0 && sr.err == nil; k-- {
				sr.u32()
				sr.name()
			}
			nb = append(nb, sr.b[start:sr.pos]...)
		}
		sr.end()
		if sr.err != nil {
			return nil, sr.err
		}
		out = appendSection(out, id, nb)
	}
	return out, r.err
}
