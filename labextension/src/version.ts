/** The version of this labextension; must equal package.json's (a unit test checks). */
export const LABEXTENSION_VERSION = '0.1.0';
