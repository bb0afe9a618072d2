// A named function of the site's: as an object's method, its name survives minification.
export const settings = {
  loadSettings() {
    return JSON.parse('{bad');
  },
};
