package catalog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // image.DecodeConfig of GIF uploads
	_ "image/jpeg" // image.DecodeConfig of JPEG uploads
	_ "image/png"  // image.DecodeConfig of PNG uploads
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/product"
	"github.com/omnisphere/omnisphere/ent/productimage"
	"github.com/omnisphere/omnisphere/ent/productvariant"
)

// MaxUploadBytes is the largest image upload.
const MaxUploadBytes = 10 << 20

// uploadTypes maps the content types accepted for uploads (sniffed from the
// bytes, never taken from the client) to their file extension.
var uploadTypes = map[string]string{
	"image/jpeg": ".jpg",
	"image/png":  ".png",
	"image/webp": ".webp",
	"image/gif":  ".gif",
}

// Media paths: /media/<dir>/<name>. Uploads go to <merchant id>/<32 random
// hex digits>.<ext>; other files put there by the server (the demo store's
// images) follow the same safe shape: a lowercase directory name and a file
// name of letters, digits, - and _ with an image extension. Nothing else
// (dots, slashes, other extensions) is ever served.
var (
	mediaDirRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	mediaNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}\.(jpg|jpeg|png|webp|gif)$`)
	mediaTypes  = map[string]string{".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp", ".gif": "image/gif"}
)

// MediaFile maps the path of a media URL (/media/<dir>/<name>) to the file
// under root and its content type. ok is false for any other shape of name,
// so the caller never opens anything else.
func MediaFile(root, dir, name string) (file, contentType string, ok bool) {
	if !mediaDirRe.MatchString(dir) || !mediaNameRe.MatchString(name) {
		return "", "", false
	}
	return filepath.Join(root, dir, name), mediaTypes[filepath.Ext(name)], true
}

// ImageInput is the input of AddImage and UploadImage.
type ImageInput struct {
	ProductID uuid.UUID
	// URL is the image's address (AddImage only).
	URL      string
	Alt      *string
	Position *int
	Featured *bool
	// VariantID ties the image to one of the product's variants.
	VariantID *uuid.UUID
}

// AddImage adds an image by URL to a product's gallery.
func (s *Service) AddImage(ctx context.Context, in ImageInput) (*ent.ProductImage, error) {
	p := &problems{}
	url := checkURL(p, path("url"), in.URL)
	alt, pos := checkImageFields(p, in)
	if err := p.err(); err != nil {
		return nil, err
	}
	var out *ent.ProductImage
	err := s.inTx(ctx, func(ctx context.Context, c *ent.Client) error {
		if err := checkImageTargets(ctx, c, in); err != nil {
			return err
		}
		m := c.ProductImage.Create().SetProductID(in.ProductID).SetURL(url).
			SetNillableAltText(alt).SetNillableVariantID(in.VariantID)
		im, err := m.Save(ctx)
		if err != nil {
			return err
		}
		out, err = placeImage(ctx, c, im, pos, in.Featured != nil && *in.Featured)
		return err
	})
	return done(out, err)
}

// Upload is an uploaded file.
type Upload struct {
	File io.Reader
	// Size is the size the client announced (-1 when unknown); the bytes
	// read are what counts.
	Size int64
}

// UploadImage stores an uploaded image in the store's media directory and
// adds it to the product's gallery. At most MaxUploadBytes of JPEG, PNG, WebP
// or GIF, recognised from the bytes; the file gets a random name and its URL
// is /media/<merchant id>/<name>.
func (s *Service) UploadImage(ctx context.Context, in ImageInput, up Upload) (*ent.ProductImage, error) {
	p := &problems{}
	alt, pos := checkImageFields(p, in)
	if err := p.err(); err != nil {
		return nil, err
	}
	if up.Size > MaxUploadBytes {
		return nil, fieldErr(CodeTooLong, path("file"), "the image is larger than %d MiB", MaxUploadBytes>>20)
	}
	data, err := io.ReadAll(io.LimitReader(up.File, MaxUploadBytes+1))
	if err != nil {
		return nil, fmt.Errorf("catalog: read upload: %w", err)
	}
	if len(data) > MaxUploadBytes {
		return nil, fieldErr(CodeTooLong, path("file"), "the image is larger than %d MiB", MaxUploadBytes>>20)
	}
	ct := http.DetectContentType(data)
	ext, ok := uploadTypes[ct]
	if !ok || len(data) == 0 {
		return nil, fieldErr(CodeInvalid, path("file"), "the file is not a JPEG, PNG, WebP or GIF image")
	}
	var width, height *int
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil && cfg.Width > 0 && cfg.Height > 0 {
		width, height = &cfg.Width, &cfg.Height
	}
	merchant := merchantOf(ctx)
	var out *ent.ProductImage
	var stored string
	err = s.inTx(ctx, func(ctx context.Context, c *ent.Client) error {
		if err := checkImageTargets(ctx, c, in); err != nil {
			return err
		}
		if stored == "" {
			var err error
			if stored, err = s.storeFile(merchant, ext, data); err != nil {
				return err
			}
		}
		name := filepath.Base(stored)
		key := merchant.String() + "/" + name
		im, err := c.ProductImage.Create().SetProductID(in.ProductID).SetURL("/media/" + key).
			SetNillableAltText(alt).SetNillableVariantID(in.VariantID).SetContentType(ct).
			SetSizeBytes(int64(len(data))).SetStorageKey(key).SetNillableWidth(width).SetNillableHeight(height).
			Save(ctx)
		if err != nil {
			return err
		}
		out, err = placeImage(ctx, c, im, pos, in.Featured != nil && *in.Featured)
		return err
	})
	if err != nil {
		if stored != "" {
			_ = os.Remove(stored)
		}
		return nil, err
	}
	return out.Unwrap(), nil
}

// DeleteImage removes an image from its product's gallery, and an uploaded
// file from the media directory.
func (s *Service) DeleteImage(ctx context.Context, id uuid.UUID) error {
	var key string
	err := s.inTx(ctx, func(ctx context.Context, c *ent.Client) error {
		im, err := c.ProductImage.Get(ctx, id)
		if err != nil {
			return notFoundAs(err, path("id"), "image")
		}
		key = im.StorageKey
		if err := c.ProductImage.DeleteOne(im).Exec(ctx); err != nil {
			return err
		}
		rest, err := c.ProductImage.Query().Where(productimage.ProductID(im.ProductID)).
			Order(ent.Asc(productimage.FieldPosition), ent.Asc(productimage.FieldID)).All(ctx)
		if err != nil || len(rest) == 0 {
			return err
		}
		if im.Featured {
			// The first remaining image becomes the featured one.
			if err := c.ProductImage.UpdateOne(rest[0]).SetFeatured(true).Exec(ctx); err != nil {
				return err
			}
		}
		for i, r := range rest {
			if r.Position != i {
				if err := c.ProductImage.UpdateOne(r).SetPosition(i).Exec(ctx); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if key != "" {
		s.removeFiles(ctx, []string{key})
	}
	return nil
}

func checkImageFields(p *problems, in ImageInput) (*string, *int) {
	alt := text(p, path("alt"), in.Alt, 512)
	if alt != nil && *alt == "" {
		alt = nil
	}
	if in.Position != nil && (*in.Position < 0 || *in.Position > 1_000_000) {
		p.add(CodeInvalid, path("position"), "position must be between 0 and 1000000")
	}
	return alt, in.Position
}

// checkImageTargets checks that the product, and the variant when given (of
// that product), are the store's.
func checkImageTargets(ctx context.Context, c *ent.Client, in ImageInput) error {
	ok, err := c.Product.Query().Where(product.ID(in.ProductID)).Exist(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return fieldErr(CodeNotFound, path("productId"), "no product with this id")
	}
	if in.VariantID != nil {
		ok, err := c.ProductVariant.Query().Where(productvariant.ID(*in.VariantID), productvariant.ProductID(in.ProductID)).Exist(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return fieldErr(CodeNotFound, path("variantId"), "the product has no variant with this id")
		}
	}
	return nil
}

// placeImage puts a new image at pos in its product's gallery (the end when
// nil), renumbers the gallery, and makes it the featured image when asked or
// when the product has none.
func placeImage(ctx context.Context, c *ent.Client, im *ent.ProductImage, pos *int, featured bool) (*ent.ProductImage, error) {
	all, err := c.ProductImage.Query().Where(productimage.ProductID(im.ProductID)).
		Order(ent.Asc(productimage.FieldPosition), ent.Asc(productimage.FieldCreatedAt), ent.Asc(productimage.FieldID)).All(ctx)
	if err != nil {
		return nil, err
	}
	var ids []uuid.UUID
	positions := map[uuid.UUID]int{}
	hasFeatured := false
	for _, x := range all {
		positions[x.ID] = x.Position
		if x.ID != im.ID {
			ids = append(ids, x.ID)
			hasFeatured = hasFeatured || x.Featured
		}
	}
	for i, id := range reorder(ids, im.ID, pos) {
		if positions[id] != i {
			if err := c.ProductImage.UpdateOneID(id).SetPosition(i).Exec(ctx); err != nil {
				return nil, err
			}
		}
	}
	if featured || !hasFeatured {
		if featured && hasFeatured {
			if _, err := c.ProductImage.Update().Where(productimage.ProductID(im.ProductID), productimage.IDNEQ(im.ID)).
				SetFeatured(false).Save(ctx); err != nil {
				return nil, err
			}
		}
		if err := c.ProductImage.UpdateOneID(im.ID).SetFeatured(true).Exec(ctx); err != nil {
			return nil, err
		}
	}
	return c.ProductImage.Get(ctx, im.ID)
}

// storeFile writes data under the merchant's media directory with a random
// name and returns its path.
func (s *Service) storeFile(merchant uuid.UUID, ext string, data []byte) (string, error) {
	if s.mediaDir == "" {
		return "", errors.New("catalog: no media directory configured")
	}
	dir := filepath.Join(s.mediaDir, merchant.String())
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("catalog: media directory: %w", err)
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	name := filepath.Join(dir, hex.EncodeToString(b[:])+ext)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return "", fmt.Errorf("catalog: store upload: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(name)
		return "", fmt.Errorf("catalog: store upload: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", fmt.Errorf("catalog: store upload: %w", err)
	}
	return name, nil
}

// removeFiles deletes stored media files (storage keys <merchant>/<name>)
// after their rows are gone; a failure is only logged.
func (s *Service) removeFiles(ctx context.Context, keys []string) {
	for _, k := range keys {
		merchant, name, _ := strings.Cut(k, "/")
		file, _, ok := MediaFile(s.mediaDir, merchant, name)
		if !ok {
			continue
		}
		if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.WarnContext(ctx, "catalog: media file not removed", "key", k, "error", err)
		}
	}
}
