package server

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/omnisphere/omnisphere/ent"
	gql "github.com/omnisphere/omnisphere/graph"
)

// cursorGuard checks every Cursor argument of an operation before it runs.
// entgql decodes cursors with msgpack, which panics on some crafted input
// (a map with a repeated key, found by FuzzCursor): gqlgen would recover
// that panic as an INTERNAL error. Here such a cursor is a BAD_USER_INPUT
// naming the argument, before the operation runs.
type cursorGuard struct{}

var (
	_ graphql.HandlerExtension        = cursorGuard{}
	_ graphql.OperationContextMutator = cursorGuard{}
)

func (cursorGuard) ExtensionName() string                   { return "OmniSphereCursorGuard" }
func (cursorGuard) Validate(graphql.ExecutableSchema) error { return nil }

func (cursorGuard) MutateOperationContext(_ context.Context, op *graphql.OperationContext) *gqlerror.Error {
	if op.Operation == nil {
		return nil
	}
	seen := map[string]bool{}
	var walk func(ast.SelectionSet) *gqlerror.Error
	walk = func(set ast.SelectionSet) *gqlerror.Error {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				for _, arg := range s.Arguments {
					if arg.Value == nil || arg.Value.ExpectedType == nil || arg.Value.ExpectedType.Name() != "Cursor" {
						continue
					}
					v, err := arg.Value.Value(op.Variables)
					if err != nil {
						continue // validation reports it
					}
					str, ok := v.(string)
					if !ok {
						continue
					}
					if err := checkCursor(str); err != nil {
						e := gqlerror.Errorf("%s: %s", arg.Name, err)
						e.Extensions = map[string]any{"code": gql.CodeBadUserInput}
						return e
					}
				}
				if err := walk(s.SelectionSet); err != nil {
					return err
				}
			case *ast.InlineFragment:
				if err := walk(s.SelectionSet); err != nil {
					return err
				}
			case *ast.FragmentSpread:
				if seen[s.Name] || s.Definition == nil {
					continue
				}
				seen[s.Name] = true
				if err := walk(s.Definition.SelectionSet); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(op.Operation.SelectionSet)
}

// checkCursor decodes s as the API's cursors are decoded and reports a
// panic of the decoder as an error. A cursor that merely fails to decode is
// left to argument coercion, which answers it as a field error
// (BAD_USER_INPUT with data null).
func checkCursor(s string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("invalid cursor")
		}
	}()
	var c ent.Cursor
	_ = c.UnmarshalGQL(s)
	return nil
}
