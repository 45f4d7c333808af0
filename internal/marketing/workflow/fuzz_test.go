package workflow

import (
	"encoding/json"
	"slices"
	"testing"
)

// FuzzValidate feeds arbitrary definitions (as a GraphQL input would bring
// them, decoded from JSON) to the validator: it must not panic, every
// problem must carry a message and a path under "input", and a definition
// it accepts must only jump forward within the workflow.
func FuzzValidate(f *testing.F) {
	seed, _ := json.Marshal(valid())
	f.Add(seed)
	f.Add([]byte(`{"Name":"x","Trigger":{"Type":"CART_ABANDONED"},"Steps":[{"Kind":"WAIT","WaitSeconds":5,"Next":0}]}`))
	f.Add([]byte(`{"Name":"x","Trigger":{"Type":"EVENT_TRACKED","EventType":"a","Filters":[{"property":"p","operator":"in","value":[1,"a"]}]},"Steps":[{"Kind":"CONDITION","Condition":{"Kind":"PROFILE","Rule":{"match":"any","conditions":[]}},"YesNext":1},{"Kind":"EXIT"}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var in Input
		if json.Unmarshal(raw, &in) != nil {
			return
		}
		p := &problems{}
		def := validate(p, in)
		for _, fe := range p.list {
			if fe.Message == "" || len(fe.Field) == 0 || fe.Field[0] != "input" || fe.Code == "" {
				t.Fatalf("bad problem %+v", fe)
			}
		}
		if len(p.list) > 0 {
			return
		}
		if len(def.steps) != len(in.Steps) || len(in.Steps) == 0 || len(in.Steps) > MaxSteps {
			t.Fatalf("accepted %d steps, stored %d", len(in.Steps), len(def.steps))
		}
		for i, st := range def.steps {
			targets := []int{}
			if st.next != nil {
				targets = append(targets, *st.next)
			}
			for _, k := range []string{"true", "false"} {
				if v, ok := st.branches[k]; ok {
					targets = append(targets, v.(int))
				}
			}
			if slices.ContainsFunc(targets, func(to int) bool { return to <= i || to >= len(in.Steps) }) {
				t.Fatalf("step %d accepted with jumps %v", i, targets)
			}
		}
	})
}
