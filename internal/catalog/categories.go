package catalog

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/product"
	"github.com/omnisphere/omnisphere/ent/productcategory"
)

// CategoryInput is the input of CreateCategory and UpdateCategory. Nil and
// unset fields keep the stored value (or take the default on create).
type CategoryInput struct {
	Name        *string
	Slug        *string
	Description Nullable[string]
	// ParentID moves the category; a nil Value moves it to the root.
	ParentID Nullable[uuid.UUID]
	// Position is the index among the siblings (0 first); the others shift.
	// On create, the end when nil; on update, unchanged when nil.
	Position       *int
	ImageURL       Nullable[string]
	SEOTitle       Nullable[string]
	SEODescription Nullable[string]
	Published      *bool
}

// CreateCategory creates a category at the root or under a parent.
func (s *Service) CreateCategory(ctx context.Context, in CategoryInput) (*ent.ProductCategory, error) {
	var out *ent.ProductCategory
	err := s.inTx(ctx, func(ctx context.Context, c *ent.Client) error {
		var err error
		out, err = s.saveCategory(ctx, c, nil, in)
		return err
	})
	return done(out, err)
}

// UpdateCategory renames, moves or reorders a category. A move under itself
// or one of its descendants is refused (INVALID on parentId).
func (s *Service) UpdateCategory(ctx context.Context, id uuid.UUID, in CategoryInput) (*ent.ProductCategory, error) {
	var out *ent.ProductCategory
	err := s.inTx(ctx, func(ctx context.Context, c *ent.Client) error {
		cur, err := c.ProductCategory.Get(ctx, id)
		if err != nil {
			return notFoundAs(err, path("id"), "category")
		}
		out, err = s.saveCategory(ctx, c, cur, in)
		return err
	})
	return done(out, err)
}

// DeleteCategory deletes a category: its children move up to its parent
// (after their new siblings), its products are left without a category.
func (s *Service) DeleteCategory(ctx context.Context, id uuid.UUID) error {
	return s.inTx(ctx, func(ctx context.Context, c *ent.Client) error {
		cur, err := c.ProductCategory.Get(ctx, id)
		if err != nil {
			return notFoundAs(err, path("id"), "category")
		}
		children, err := siblingsOf(ctx, c, &cur.ID)
		if err != nil {
			return err
		}
		sibs, err := siblingsOf(ctx, c, cur.ParentID)
		if err != nil {
			return err
		}
		var others []*ent.ProductCategory
		for _, x := range sibs {
			if x.ID != cur.ID {
				others = append(others, x)
			}
		}
		if _, err := c.Product.Update().Where(product.CategoryID(id)).ClearCategoryID().Save(ctx); err != nil {
			return err
		}
		if len(children) > 0 {
			u := c.ProductCategory.Update().Where(productcategory.ParentID(cur.ID))
			setNullable(Ptr(cur.ParentID), u.Mutation().SetParentID, u.Mutation().ClearParentID)
			if cur.ParentID == nil {
				u.ClearParentID()
			}
			if _, err := u.Save(ctx); err != nil {
				return err
			}
		}
		if err := c.ProductCategory.DeleteOneID(id).Exec(ctx); err != nil {
			return err
		}
		all := append(others, children...)
		return renumber(ctx, c, all, idsOf(all))
	})
}

// pendingCategory is a category an import row names by slug and asks to
// create when the store has none with that slug.
type pendingCategory struct {
	slug, name string
	parentID   *uuid.UUID
}

func (s *Service) createPendingCategory(ctx context.Context, c *ent.Client, pc *pendingCategory) (uuid.UUID, error) {
	name := pc.name
	cat, err := s.saveCategory(ctx, c, nil, CategoryInput{Name: &name, Slug: &pc.slug, ParentID: Ptr(pc.parentID)})
	if err != nil {
		return uuid.Nil, err
	}
	if st, ok := ctx.Value(importStateKey{}).(*importState); ok && st.categories != nil {
		st.categories[cat.Slug] = cat.ID
	}
	return cat.ID, nil
}

func (s *Service) saveCategory(ctx context.Context, c *ent.Client, cur *ent.ProductCategory, in CategoryInput) (*ent.ProductCategory, error) {
	p := &problems{}
	var name string
	switch {
	case in.Name != nil:
		name = *text(p, path("name"), in.Name, 255)
		if name == "" {
			p.add(CodeRequired, path("name"), "name is required")
		}
	case cur == nil:
		p.add(CodeRequired, path("name"), "name is required")
	default:
		name = cur.Name
	}
	desc := nullableText(p, path("description"), in.Description, maxDescription)
	seoTitle := nullableText(p, path("seoTitle"), in.SEOTitle, 255)
	seoDesc := nullableText(p, path("seoDescription"), in.SEODescription, 512)
	img := in.ImageURL
	if img.Value != nil {
		if u := checkURL(p, path("imageUrl"), *img.Value); u == "" {
			img = Null[string]()
		} else {
			img = Val(u)
		}
	}
	if in.Position != nil && (*in.Position < 0 || *in.Position > 1_000_000) {
		p.add(CodeInvalid, path("position"), "position must be between 0 and 1000000")
	}
	var curID uuid.UUID
	if cur != nil {
		curID = cur.ID
	}
	slug := ""
	switch {
	case in.Slug != nil:
		slug = Slugify(*in.Slug)
		switch {
		case slug == "":
			p.add(CodeInvalid, path("slug"), "slug must contain letters or digits")
		case len(slug) > maxSlugLen:
			p.add(CodeTooLong, path("slug"), "slug is too long (at most %d bytes)", maxSlugLen)
		default:
			taken, err := c.ProductCategory.Query().Where(productcategory.Slug(slug), productcategory.IDNEQ(curID)).Exist(ctx)
			if err != nil {
				return nil, err
			}
			if taken {
				p.add(CodeTaken, path("slug"), "slug %q is used by another category", slug)
			}
		}
	case cur == nil && name != "":
		base := baseSlug(name, "category")
		used, err := c.ProductCategory.Query().Where(productcategory.SlugHasPrefix(base)).Select(productcategory.FieldSlug).Strings(ctx)
		if err != nil {
			return nil, fmt.Errorf("catalog: category slugs: %w", err)
		}
		taken := map[string]bool{}
		for _, u := range used {
			taken[u] = true
		}
		slug = uniqueSlug(base, taken)
	case cur != nil:
		slug = cur.Slug
	}

	// Parent: it must exist, and a move must not make a cycle.
	var parent *uuid.UUID
	if cur != nil {
		parent = cur.ParentID
	}
	moved := false
	if in.ParentID.Set {
		parent = in.ParentID.Value
		moved = cur == nil || !sameID(cur.ParentID, parent)
	}
	if parent != nil && moved {
		all, err := c.ProductCategory.Query().Select(productcategory.FieldID, productcategory.FieldParentID).All(ctx)
		if err != nil {
			return nil, err
		}
		parents := make(map[uuid.UUID]*uuid.UUID, len(all))
		for _, x := range all {
			parents[x.ID] = x.ParentID
		}
		if _, ok := parents[*parent]; !ok {
			p.add(CodeNotFound, path("parentId"), "no category with this id")
		} else if cur != nil && createsCycle(parents, cur.ID, *parent) {
			p.add(CodeInvalid, path("parentId"), "a category cannot move under itself or its descendants")
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}

	var m *ent.ProductCategoryMutation
	var create *ent.ProductCategoryCreate
	var update *ent.ProductCategoryUpdateOne
	if cur == nil {
		create = c.ProductCategory.Create()
		m = create.Mutation()
	} else {
		update = c.ProductCategory.UpdateOne(cur)
		m = update.Mutation()
	}
	m.SetName(name)
	m.SetSlug(slug)
	setNullable(desc, m.SetDescription, m.ClearDescription)
	setNullable(seoTitle, m.SetSeoTitle, m.ClearSeoTitle)
	setNullable(seoDesc, m.SetSeoDescription, m.ClearSeoDescription)
	setNullable(img, m.SetImageURL, m.ClearImageURL)
	if in.Published != nil {
		m.SetPublished(*in.Published)
	}
	if parent != nil {
		m.SetParentID(*parent)
	} else {
		m.ClearParentID()
	}
	var cat *ent.ProductCategory
	var err error
	if create != nil {
		cat, err = create.Save(ctx)
	} else {
		cat, err = update.Save(ctx)
	}
	if err != nil {
		return nil, err
	}
	if cur == nil || moved || in.Position != nil {
		if err := placeCategory(ctx, c, cat, parent, in.Position); err != nil {
			return nil, err
		}
		if cur != nil && moved {
			// Close the gap among the old siblings.
			old, err := siblingsOf(ctx, c, cur.ParentID)
			if err != nil {
				return nil, err
			}
			if err := renumber(ctx, c, old, idsOf(old)); err != nil {
				return nil, err
			}
		}
	}
	return c.ProductCategory.Get(ctx, cat.ID)
}

// createsCycle reports whether putting node under parent makes a cycle:
// parent is node or one of its descendants (walking up from parent reaches
// node). parents maps every category to its parent.
func createsCycle(parents map[uuid.UUID]*uuid.UUID, node, parent uuid.UUID) bool {
	cur := &parent
	for steps := 0; cur != nil && steps <= len(parents); steps++ {
		if *cur == node {
			return true
		}
		cur = parents[*cur]
	}
	return cur != nil // a cycle already stored: refuse rather than loop
}

func sameID(a, b *uuid.UUID) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// siblingsOf returns the children of parent (the roots when nil) in order.
func siblingsOf(ctx context.Context, c *ent.Client, parent *uuid.UUID) ([]*ent.ProductCategory, error) {
	q := c.ProductCategory.Query()
	if parent == nil {
		q.Where(productcategory.ParentIDIsNil())
	} else {
		q.Where(productcategory.ParentID(*parent))
	}
	return q.Order(ent.Asc(productcategory.FieldPosition), ent.Asc(productcategory.FieldID)).
		Select(productcategory.FieldID, productcategory.FieldPosition).All(ctx)
}

// placeCategory puts cat at pos among the children of parent (the end when
// nil) and renumbers them 0, 1, 2 …
func placeCategory(ctx context.Context, c *ent.Client, cat *ent.ProductCategory, parent *uuid.UUID, pos *int) error {
	sibs, err := siblingsOf(ctx, c, parent)
	if err != nil {
		return err
	}
	var others []*ent.ProductCategory
	for _, s := range sibs {
		if s.ID != cat.ID {
			others = append(others, s)
		}
	}
	order := reorder(idsOf(others), cat.ID, pos)
	return renumber(ctx, c, append(others, cat), order)
}

// renumber writes position i to the i-th id of order where it differs.
func renumber(ctx context.Context, c *ent.Client, cats []*ent.ProductCategory, order []uuid.UUID) error {
	positions := positionsOf(cats)
	for i, id := range order {
		if p, ok := positions[id]; ok && p == i {
			continue
		}
		if err := c.ProductCategory.UpdateOneID(id).SetPosition(i).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

func idsOf(cats []*ent.ProductCategory) []uuid.UUID {
	out := make([]uuid.UUID, len(cats))
	for i, c := range cats {
		out[i] = c.ID
	}
	return out
}

func positionsOf(cats []*ent.ProductCategory) map[uuid.UUID]int {
	out := make(map[uuid.UUID]int, len(cats))
	for _, c := range cats {
		out[c.ID] = c.Position
	}
	return out
}
